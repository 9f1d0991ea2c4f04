"""Sessions and refresh tokens: rotation with reuse detection, expiry, logout, logout-all, the changes that end
every session of a user (password, deactivation, fewer roles), `flask purge-expired`, and concurrent refreshes."""
import datetime as dt
import hashlib
import re
import secrets
import threading
import time

import pytest
import transaction
from sqlalchemy import func, select, update

from app.entities import AuditEvent, AuthSession, RefreshToken, User
from app.extensions import db
from app.services import sessions as sessions_service
from tests.support import ApiClient

LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
LOGOUT_ALL = "/api/v1/auth/logout-all"
ME = "/api/v1/users/me"
INVALID_REFRESH = "urn:gatehouse:problem:invalid-refresh-token"


# --- helpers -----------------------------------------------------------------------------------------------------

def login(client, user, password=None):
    """A token response (dict) for a new session of `user`."""
    return client.post_json(LOGIN, {"email": user.email, "password": password or user.password}, status=200).json


def bearer(access_token):
    return {"Authorization": f"Bearer {access_token}"}


def refresh(client, refresh_token, status=200):
    return client.post_json(REFRESH, {"refresh_token": refresh_token}, status=status)


def assert_refresh_rejected(client, refresh_token):
    response = refresh(client, refresh_token, status=401)
    assert response.content_type == "application/problem+json"
    assert response.json["type"] == INVALID_REFRESH
    assert response.json["status"] == 401
    return response


def assert_works(client, pair):
    """Both tokens of `pair` are live: the access token opens /users/me, the refresh token rotates."""
    client.get(ME, headers=bearer(pair["access_token"]), status=200)
    return refresh(client, pair["refresh_token"]).json


def assert_dead(client, pair):
    """Neither token of `pair` works any more."""
    client.get(ME, headers=bearer(pair["access_token"]), status=401)
    assert_refresh_rejected(client, pair["refresh_token"])


def digest(token):
    return hashlib.sha256(token.encode()).hexdigest()


def session_id_of(app, refresh_token):
    """The session a refresh token belongs to, found by its stored digest."""
    with app.app_context(), db.engine.connect() as conn:
        return conn.scalar(select(RefreshToken.session_id).where(RefreshToken.token_digest == digest(refresh_token)))


def expire_session(app, session_id):
    """Make a session and all its refresh tokens expired an hour ago."""
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    with app.app_context(), transaction.manager:
        db.session.execute(update(AuthSession).where(AuthSession.id == session_id).values(expires_at=past))
        db.session.execute(update(RefreshToken).where(RefreshToken.session_id == session_id).values(expires_at=past))


def audit_events(app, event_type, user_id):
    with app.app_context(), db.engine.connect() as conn:
        return conn.execute(select(AuditEvent.__table__).where(AuditEvent.type == event_type,
                                                               AuditEvent.user_id == user_id)).all()


# --- login and storage -------------------------------------------------------------------------------------------

def test_login_returns_a_long_random_url_safe_refresh_token(client, users):
    user = users.create()
    first, second = login(client, user), login(client, user)
    for pair in (first, second):
        assert re.fullmatch(r"[A-Za-z0-9_-]{43,}", pair["refresh_token"])  # >= 43 URL-safe chars: >= 256 bits
    assert first["refresh_token"] != second["refresh_token"]


def test_refresh_tokens_are_stored_only_as_digests(app, client, users):
    user = users.create()
    token = login(client, user)["refresh_token"]
    with app.app_context(), db.engine.connect() as conn:
        stored = conn.execute(select(RefreshToken.__table__)).all()
        assert [row.token_digest for row in stored] == [digest(token)]
        for table in db.metadata.sorted_tables:  # not in refresh_tokens, nor anywhere else
            for row in conn.execute(select(table)).all():
                assert not any(token in str(value) for value in row), f"raw refresh token stored in {table.name}"


def test_a_refresh_token_is_not_an_access_token_and_vice_versa(client, users):
    pair = login(client, users.create())
    client.get(ME, headers=bearer(pair["refresh_token"]), status=401)
    assert_refresh_rejected(client, pair["access_token"])


# --- rotation and reuse detection --------------------------------------------------------------------------------

def test_refresh_rotates_the_refresh_token_and_issues_a_working_access_token(client, users):
    user = users.create()
    first = login(client, user)
    response = refresh(client, first["refresh_token"])
    assert response.headers["Cache-Control"] == "no-store"
    second = response.json
    assert set(second) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert second["token_type"] == "Bearer"
    assert second["refresh_token"] != first["refresh_token"]
    assert client.get(ME, headers=bearer(second["access_token"])).json["id"] == user.id
    third = refresh(client, second["refresh_token"]).json  # the chain goes on with the newest token
    client.get(ME, headers=bearer(third["access_token"]), status=200)


def test_a_reused_refresh_token_revokes_the_whole_session(app, client, users):
    user = users.create()
    first = login(client, user)
    other_device = login(client, user)
    second = refresh(client, first["refresh_token"]).json

    response = assert_refresh_rejected(client, first["refresh_token"])  # spent: presented again
    assert "WWW-Authenticate" in response.headers

    assert_refresh_rejected(client, second["refresh_token"])  # the newest token of the family is dead too
    client.get(ME, headers=bearer(second["access_token"]), status=401)
    client.get(ME, headers=bearer(first["access_token"]), status=401)
    events = audit_events(app, "refresh_token.reused", user.id)
    assert len(events) == 1
    assert events[0].details["session_id"] == session_id_of(app, first["refresh_token"])
    assert_works(client, other_device)  # another session of the same user is not affected


@pytest.mark.parametrize("token", ["garbage", secrets.token_urlsafe(32)], ids=["garbage", "unknown"])
def test_an_unknown_refresh_token_is_rejected(client, users, token):
    login(client, users.create())
    assert_refresh_rejected(client, token)


@pytest.mark.parametrize("body", [{}, {"refresh_token": ""}, {"refresh_token": None}], ids=["missing", "empty", "null"])
def test_a_refresh_without_a_token_is_a_bad_request(client, body):
    response = client.post_json(REFRESH, body, status=400)
    assert response.content_type == "application/problem+json"
    assert "refresh_token" in response.json["errors"]


def test_an_expired_refresh_token_is_rejected(app, client, users):
    pair = login(client, users.create())
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    with app.app_context(), transaction.manager:
        db.session.execute(update(RefreshToken).where(RefreshToken.token_digest == digest(pair["refresh_token"]))
                           .values(expires_at=past))
    assert_refresh_rejected(client, pair["refresh_token"])


def test_refresh_tokens_live_refresh_token_ttl_seconds(make_app, users):
    app = make_app(REFRESH_TOKEN_TTL=60)
    client = ApiClient(app)
    pair = login(client, users.create())
    refresh(client, pair["refresh_token"])
    with app.app_context(), db.engine.connect() as conn:
        tokens = conn.execute(select(RefreshToken.__table__).order_by(RefreshToken.id)).all()
        session = conn.execute(select(AuthSession.__table__)).one()
    assert len(tokens) == 2
    assert all(token.expires_at - token.created_at == dt.timedelta(seconds=60) for token in tokens)
    assert session.expires_at == tokens[-1].expires_at


def test_rotation_never_extends_a_session_past_its_max_lifetime(make_app, users):
    client = ApiClient(make_app(SESSION_MAX_LIFETIME=1))  # REFRESH_TOKEN_TTL stays 14 days
    first = login(client, users.create())
    second = refresh(client, first["refresh_token"]).json
    time.sleep(1.1)
    assert_refresh_rejected(client, second["refresh_token"])


def test_refresh_fails_for_a_user_deactivated_meanwhile(app, client, users):
    user = users.create()
    pair = login(client, user)
    with app.app_context(), transaction.manager:  # directly: the session itself stays unrevoked
        db.session.get(User, user.id).is_active = False
    assert_refresh_rejected(client, pair["refresh_token"])


# --- logout ------------------------------------------------------------------------------------------------------

def test_logout_ends_only_the_current_session(client, users):
    user = users.create()
    this, other = login(client, user), login(client, user)
    response = client.post(LOGOUT, headers=bearer(this["access_token"]), status=204)
    assert response.body == b""
    assert_dead(client, this)
    assert_works(client, other)


@pytest.mark.parametrize("path", [LOGOUT, LOGOUT_ALL])
def test_logout_needs_a_valid_bearer_token(client, path):
    client.post(path, status=401)
    client.post(path, headers=bearer("not-a-token"), status=401)


def test_logout_all_ends_every_session_of_the_user_only(app, client, users):
    user, bystander = users.create(), users.create()
    sessions = [login(client, user), login(client, user)]
    refreshed = refresh(client, sessions[1]["refresh_token"]).json  # a rotated session ends too
    theirs = login(client, bystander)
    client.post(LOGOUT_ALL, headers=bearer(sessions[0]["access_token"]), status=204)
    assert_dead(client, sessions[0])
    assert_dead(client, refreshed)
    client.get(ME, headers=bearer(sessions[1]["access_token"]), status=401)
    assert_works(client, theirs)
    assert [event.details["sessions"] for event in audit_events(app, "logout.all", user.id)] == [2]


# --- changes that end every session ------------------------------------------------------------------------------

def test_changing_the_password_ends_every_session(client, users):
    user = users.create()
    this, other = login(client, user), login(client, user)
    client.patch_json(ME, {"password": "a brand new password", "current_password": user.password},
                      headers=bearer(this["access_token"]), status=200)
    assert_dead(client, this)
    assert_dead(client, other)
    assert_works(client, login(client, user, password="a brand new password"))


def test_deactivation_ends_sessions_and_reactivation_does_not_revive_them(client, users, auth):
    _, admin_headers = auth.admin()
    user = users.create()
    seen, untouched = login(client, user), login(client, user)
    client.patch_json(f"/api/v1/users/{user.id}", {"is_active": False}, headers=admin_headers, status=200)
    assert_dead(client, seen)
    client.patch_json(f"/api/v1/users/{user.id}", {"is_active": True}, headers=admin_headers, status=200)
    assert_dead(client, untouched)  # never presented while inactive: dead because its session was ended
    assert_works(client, login(client, user))


def test_removing_a_role_ends_the_users_sessions(client, users, auth):
    _, admin_headers = auth.admin()
    demoted = users.admin()
    pair = login(client, demoted)
    client.patch_json(f"/api/v1/users/{demoted.id}", {"roles": ["user"]}, headers=admin_headers, status=200)
    assert_dead(client, pair)
    assert client.get(ME, headers=bearer(login(client, demoted)["access_token"])).json["roles"] == ["user"]


def test_adding_a_role_keeps_the_users_sessions(client, users, auth):
    _, admin_headers = auth.admin()
    promoted = users.create()
    pair = login(client, promoted)
    client.patch_json(f"/api/v1/users/{promoted.id}", {"roles": ["user", "admin"]}, headers=admin_headers,
                      status=200)
    assert client.get(ME, headers=bearer(pair["access_token"])).json["roles"] == ["admin", "user"]
    assert_works(client, pair)


# --- purge -------------------------------------------------------------------------------------------------------

def test_purge_expired_deletes_expired_sessions_and_their_tokens_only(app, client, users):
    user = users.create()
    live, revoked, expired, expired_revoked = (login(client, user) for _ in range(4))
    live = {**live, **refresh(client, live["refresh_token"]).json}  # a session with a spent and a live token
    for pair in (revoked, expired_revoked):
        client.post(LOGOUT, headers=bearer(pair["access_token"]), status=204)
    ids = {name: session_id_of(app, pair["refresh_token"])
           for name, pair in {"live": live, "revoked": revoked, "expired": expired,
                              "expired_revoked": expired_revoked}.items()}
    expire_session(app, ids["expired"])
    expire_session(app, ids["expired_revoked"])

    result = app.test_cli_runner().invoke(args=["purge-expired"])

    assert result.exit_code == 0, result.output
    assert "Deleted 2 expired session(s)" in result.output
    with app.app_context(), db.engine.connect() as conn:
        assert set(conn.scalars(select(AuthSession.id))) == {ids["live"], ids["revoked"]}
        per_session = dict(conn.execute(select(RefreshToken.session_id, func.count())
                                        .group_by(RefreshToken.session_id)).all())
    assert per_session == {ids["live"]: 2, ids["revoked"]: 1}
    assert_works(client, live)


# --- concurrency (a real server) ---------------------------------------------------------------------------------

@pytest.mark.mysql
def test_two_concurrent_refreshes_with_one_token_give_one_200_and_one_401(app, client, users, monkeypatch):
    # The worst case for InnoDB, made certain: each new token's digest sorts just below the one being spent (its
    # unique-index neighbour) and is issued slowly, so the loser is already waiting when the winner inserts it.
    pool = sorted((secrets.token_urlsafe(32) for _ in range(10)), key=digest)

    def new_token():
        time.sleep(0.05)
        return pool.pop()  # the largest digest left: below every stored one

    monkeypatch.setattr(sessions_service, "new_token", new_token)
    user = users.create()
    for _ in range(5):
        token = login(client, user)["refresh_token"]
        start = threading.Barrier(2)
        statuses = []

        def spend(token=token, start=start, statuses=statuses):
            racer = ApiClient(app)
            start.wait()
            statuses.append(racer.post_json(REFRESH, {"refresh_token": token}, expect_errors=True).status_int)

        threads = [threading.Thread(target=spend) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert sorted(statuses) == [200, 401]
        session_id = session_id_of(app, token)
        with app.app_context(), db.engine.connect() as conn:  # one new token issued, not two
            assert conn.scalar(select(func.count()).select_from(RefreshToken)
                               .where(RefreshToken.session_id == session_id)) == 2


@pytest.mark.parametrize("change", ["password", "deactivation"])
def test_a_login_racing_a_password_change_or_deactivation_gets_no_session(app, client, users, monkeypatch, change):
    """The password is verified (slowly) against a read made before; a password change or deactivation that
    commits meanwhile ends every session, so the login must not start one after it."""
    from app.dependencies import resolve
    from app.services.passwords import PasswordService
    from app.services.users import UserService
    from tests.support import DEFAULT_PASSWORD

    user, admin = users.create(), users.admin()
    real_verify = PasswordService.verify

    def verify_while_the_account_changes(self, password_hash, password):
        matches = real_verify(self, password_hash, password)
        monkeypatch.setattr(PasswordService, "verify", real_verify)  # once
        if change == "password":
            resolve(UserService).update_me(user.id, password="a changed long password",
                                           current_password=DEFAULT_PASSWORD)
        else:
            resolve(UserService).update(admin.id, user.id, is_active=False)
        return matches

    monkeypatch.setattr(PasswordService, "verify", verify_while_the_account_changes)
    client.post_json(LOGIN, {"email": user.email, "password": DEFAULT_PASSWORD}, status=401)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuthSession)
                                 .where(AuthSession.user_id == user.id)) == 0
