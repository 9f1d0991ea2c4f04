"""Session and token activity (issue 15): `last_used_at` is kept without writing on every request. Measured by
counting the UPDATE statements a run of authenticated requests sends to the database: at most one a minute per
session or token, whatever the request rate, and one more when a personal access token comes from a new address."""
import datetime as dt

import pytest
from sqlalchemy import event

from app.extensions import db

ME = "/api/v1/users/me"
REQUESTS = 50


class Clock:
    def __init__(self):
        self.now = dt.datetime.now(dt.UTC)

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr("app.services.activity.utcnow", clock)
    return clock


@pytest.fixture
def updates(app):
    """The UPDATE statements sent while the test runs, as (table, SQL) pairs."""
    sent = []

    def record(_conn, _cursor, statement, _parameters, _context, _executemany):
        if statement.lstrip().upper().startswith("UPDATE"):
            sent.append(statement.split()[1].strip('`"'))
    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    yield sent
    event.remove(engine, "before_cursor_execute", record)


def test_a_busy_session_writes_its_activity_once_a_minute(client, auth, updates, clock):
    headers = auth.headers(auth.users.create())
    updates.clear()
    for _ in range(REQUESTS):
        client.get(ME, headers=headers)
    assert updates == []  # signed in a moment ago: nothing to record yet
    clock.now += dt.timedelta(seconds=61)
    for _ in range(REQUESTS):
        client.get(ME, headers=headers)
    assert updates == ["auth_sessions"]
    clock.now += dt.timedelta(seconds=30)
    for _ in range(REQUESTS):
        client.get(ME, headers=headers)
    assert updates == ["auth_sessions"]
    clock.now += dt.timedelta(seconds=31)
    client.get(ME, headers=headers)
    assert updates == ["auth_sessions", "auth_sessions"]
    print(f"\n{3 * REQUESTS + 1} requests over 122 s of one session: {len(updates)} activity writes")


def test_a_busy_token_writes_once_a_minute_and_at_each_new_address(client, auth, updates, clock):
    headers = auth.headers(auth.users.create())
    expires = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    token = client.post_json("/api/v1/users/me/tokens", {"name": "t", "scopes": ["profile:read"],
                                                         "expires_at": expires}, headers=headers).json["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    updates.clear()
    for _ in range(REQUESTS):
        client.get(ME, headers=bearer, extra_environ={"REMOTE_ADDR": "192.0.2.1"})
    assert updates == ["personal_access_tokens"]  # the first use
    client.get(ME, headers=bearer, extra_environ={"REMOTE_ADDR": "192.0.2.2"})
    assert updates == ["personal_access_tokens"] * 2  # a new address, at once
    clock.now += dt.timedelta(seconds=61)
    for _ in range(REQUESTS):
        client.get(ME, headers=bearer, extra_environ={"REMOTE_ADDR": "192.0.2.2"})
    assert updates == ["personal_access_tokens"] * 3
