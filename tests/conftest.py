"""Fixtures: `database_url` (SQLite file, or TEST_DATABASE_URL for MySQL/MariaDB), `make_app`, `app`, `client`
(WebTest), per-test isolation (every table emptied after each test), `users` (a factory) and `auth` (tokens).

The schema is built with the real migrations (`flask db upgrade`), not `create_all`.
"""
import os

import flask_migrate
import pytest
import sqlalchemy as sa
import transaction

from app import create_app
from app.configs import TestConfig
from app.extensions import db
from tests.support import ApiClient, UserFactory

MYSQL_URL = os.environ.get("TEST_DATABASE_URL", "")


def pytest_report_header(config):
    return f"database: {'MySQL/MariaDB (TEST_DATABASE_URL)' if MYSQL_URL else 'SQLite file'}"


def pytest_collection_modifyitems(config, items):
    if MYSQL_URL:
        # `once` tests check what the database does not change (clients generated from the served document, the
        # CLI contract run): the SQLite pass runs them, this pass deselects them (not a skip, so FAIL_ON_SKIP holds).
        once = [item for item in items if item.get_closest_marker("once")]
        if once:
            config.hook.pytest_deselected(items=once)
            items[:] = [item for item in items if not item.get_closest_marker("once")]
        return
    skip = pytest.mark.skip(reason="needs MySQL/MariaDB: set TEST_DATABASE_URL")
    for item in items:
        if item.get_closest_marker("mysql"):
            item.add_marker(skip)


def pytest_sessionfinish(session, exitstatus):
    """FAIL_ON_SKIP=1 (CI's MySQL pass): a skipped test fails the run, so MySQL-only tests cannot silently vanish."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if os.environ.get("FAIL_ON_SKIP") == "1" and reporter and reporter.stats.get("skipped"):
        reporter.write_line(f"FAIL_ON_SKIP=1: {len(reporter.stats['skipped'])} test(s) skipped", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    """The test database, emptied and migrated to head once per session."""
    url = MYSQL_URL or f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:  # an unreachable TEST_DATABASE_URL is an error, never a skip
            meta = sa.MetaData()
            meta.reflect(conn)
            meta.drop_all(conn)
            conn.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
    finally:
        engine.dispose()
    app = create_app(TestConfig(database_url=url))
    with app.app_context():
        flask_migrate.upgrade()
    return url


@pytest.fixture(scope="session")
def make_app(database_url):
    """Build an app on the test database: `make_app(injector_modules=[...], **config_overrides)`."""
    def make(injector_modules=(), **overrides):
        return create_app(TestConfig(database_url=database_url, **overrides), injector_modules=injector_modules)
    return make


@pytest.fixture(scope="session")
def app(make_app):
    """The default test app (shared by the session; state lives in the database, which is emptied per test)."""
    return make_app()


@pytest.fixture(autouse=True)
def _clean_database(request):
    """Empty every table after each test that used the database; requests commit for real, so no rollback trick."""
    app = request.getfixturevalue("app") if "database_url" in request.fixturenames else None
    yield
    if app is None:
        return
    with app.app_context():
        transaction.abort()
        with transaction.manager:
            for table in reversed(db.metadata.sorted_tables):
                db.session.execute(table.delete())


@pytest.fixture
def client(app):
    """A WebTest client that also checks no response ever carries a password hash."""
    return ApiClient(app)


@pytest.fixture
def users(app):
    """Create users directly through the service layer: `users.create(email=..., roles=[...])`."""
    return UserFactory(app)


@pytest.fixture
def auth(client, users):
    """Tokens and Authorization headers: `auth.login(user)`, `auth.headers(user)`, `auth.admin()`."""
    return users.auth_helper(client)

