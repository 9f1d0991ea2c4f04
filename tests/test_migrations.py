"""The committed migrations produce exactly the models' schema: no drift between entities and migrations."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app.entities.types import render_alembic_type
from app.extensions import db


def test_models_and_migrations_do_not_drift(app):
    # The session fixture built the schema with `flask db upgrade` only.
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={
            "compare_type": True, "render_item": render_alembic_type})
        diff = compare_metadata(context, db.metadata)
    assert diff == []


def test_constraints_are_named(app):
    with app.app_context():
        for table in db.metadata.sorted_tables:
            for constraint in table.constraints:
                assert constraint.name, (table.name, constraint)
