"""Queries per request on the hot read paths, pinned: the caller (with its roles) and the target or the page.

Counts SELECTs only (the transaction bookkeeping, BEGIN/ROLLBACK and the pool's liveness ping, is not work the code
chooses). A change that adds a lazy load or a duplicate lookup fails here.
"""
import contextlib

import pytest
from sqlalchemy import event

from app.extensions import db


@contextlib.contextmanager
def count_selects(app):
    with app.app_context():
        engine = db.engine
    statements = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and statement.strip().upper() != "SELECT 1":
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


@pytest.mark.parametrize(("path", "most"), [
    ("/api/v1/users/me", 1),
    ("/api/v1/users/{id}", 2),
    ("/api/v1/users?limit=20", 2),
    ("/api/v1/users?limit=20&role=admin&sort=-name", 2),
])
def test_hot_read_paths_use_at_most_two_queries(app, client, auth, users, path, most):
    admin, headers = auth.admin()
    for _ in range(25):
        users.create(password=None)
    with count_selects(app) as statements:
        client.get(path.format(id=admin.id), headers=headers)
    assert len(statements) <= most, statements


def test_login_reads_the_user_twice_around_the_hash(app, client, users):
    """Once to verify the password (outside any transaction: argon2 takes tens of ms), once under the row lock to
    check nothing changed meanwhile before the session starts (a password change or deactivation ends sessions)."""
    user = users.create()
    with count_selects(app) as statements:
        client.post_json("/api/v1/auth/login", {"email": user.email, "password": user.password})
    assert len(statements) == 2, statements
