"""Personal access tokens over HTTP (issue 15): creation (step-up, scopes, expiry cap, shown once, stored hashed,
mailed), use as a bearer token within its scopes and its owner's roles, listing with last use, revocation by the
owner and by admins, and everything that ends them: expiry, deactivation, a removed role, logout-all, a password
reset. Audited: creation, use from a new address, revocation."""
import datetime as dt
import re

import pytest
import transaction
from sqlalchemy import select, update

from app.entities import AuditEvent, AuthSession
from app.entities.personal_access_token import PersonalAccessToken
from app.extensions import db
from app.services.personal_tokens import TOKEN_PREFIX, looks_like_personal_token, new_personal_token
from app.services.random_tokens import token_digest
from tests import test_mail
from tests.support import DEFAULT_PASSWORD

mailroom, smtp_server = test_mail.mailroom, test_mail.smtp_server  # fixtures: an app with a test SMTP server
TOKENS = "/api/v1/users/me/tokens"
ME = "/api/v1/users/me"
USERS = "/api/v1/users"
FORMAT = re.compile(rf"^{TOKEN_PREFIX}[0-9A-Za-z]{{38}}$")


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def in_days(days):
    return (dt.datetime.now(dt.UTC) + dt.timedelta(days=days)).isoformat()


def create(client, headers, scopes=("profile:read",), name="ci job", days=30, status=201, **extra):
    return client.post_json(TOKENS, {"name": name, "scopes": list(scopes), "expires_at": in_days(days), **extra},
                            headers=headers, status=status)


def audit(app, user_id):
    with app.app_context():
        return [(event.type, event.details) for event in db.session.scalars(
            select(AuditEvent).where(AuditEvent.user_id == user_id).order_by(AuditEvent.id))]


def stored(app, token_id):
    with app.app_context():
        return db.session.get(PersonalAccessToken, token_id)


def test_the_format_is_prefixed_random_and_checksummed():
    tokens = {new_personal_token() for _ in range(200)}
    assert len(tokens) == 200
    assert all(FORMAT.match(token) and looks_like_personal_token(token) for token in tokens)
    token = tokens.pop()
    changed = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert not looks_like_personal_token(changed)  # the checksum catches a typo before any lookup
    assert not looks_like_personal_token(token[:-1])


def test_create_shows_the_token_once_and_stores_only_its_digest(app, client, auth):
    user, headers = auth.user()
    created = create(client, headers, scopes=["profile:read", "users:read"])
    body = created.json
    assert FORMAT.match(body["token"])
    assert created.headers["Cache-Control"] == "no-store"
    assert created.headers["Location"].endswith(f"{TOKENS}/{body['id']}")
    assert body["scopes"] == ["profile:read", "users:read"]
    assert body["hint"] == body["token"][:len(body["hint"])]
    assert len(body["hint"]) < 24
    assert body["last_used_at"] is None
    assert body["last_used_from"] is None
    row = stored(app, body["id"])
    assert row.token_digest == token_digest(body["token"])
    assert body["token"] not in repr(row.__dict__)
    listed = client.get(TOKENS, headers=headers).json["items"]
    assert [item["id"] for item in listed] == [body["id"]]
    assert "token" not in listed[0]
    assert client.get(f"{TOKENS}/{body['id']}", headers=headers).json["name"] == "ci job"
    assert ("personal_access_token.created", {"token_id": body["id"], "name": "ci job",
                                              "scope": "profile:read users:read",
                                              "expires_at": row.expires_at.isoformat()}) in audit(app, user.id)


def test_a_token_works_as_a_bearer_token_within_its_scopes(client, auth):
    _user, headers = auth.user()
    token = create(client, headers, scopes=["profile:read"]).json["token"]
    assert client.get(ME, headers=bearer(token)).json["email"]
    refused = client.get(USERS, headers=bearer(token), status=403)
    assert refused.content_type == "application/problem+json"
    assert refused.json["type"].endswith(":insufficient-scope")
    assert refused.json["scope"] == "users:read"
    challenge = refused.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer ")
    assert 'error="insufficient_scope"' in challenge
    assert 'scope="users:read"' in challenge
    client.patch_json(ME, {"name": "Changed"}, headers=bearer(token), status=403)  # profile:write missing


def test_a_token_never_does_more_than_its_owner_may(client, auth, users):
    admin, admin_headers = auth.admin()
    token = create(client, admin_headers, scopes=["users:write", "users:read"]).json["token"]
    client.post_json(USERS, {"email": "new@example.com", "name": "New"}, headers=bearer(token), status=201)
    # a plain user cannot ask for admin scopes at all
    _user, headers = auth.user()
    refused = create(client, headers, scopes=["users:write"], status=400)
    assert "admin role" in refused.json["errors"]["scopes"][0]
    # demoted: the role is gone and so is the token
    client.patch_json(f"{USERS}/{admin.id}", {"roles": ["user"]}, headers=auth.headers(users.admin()))
    client.get(ME, headers=bearer(token), status=401)


def test_credentials_cannot_be_given_to_a_token_nor_used_by_one(client, auth):
    _user, headers = auth.user()
    refused = create(client, headers, scopes=["credentials"], status=400)
    assert "credentials" not in refused.json["errors"]["scopes.0"][0]  # not offered at all
    token = create(client, headers, scopes=["profile:read", "profile:write"]).json["token"]
    answer = create(client, bearer(token), status=403)  # a token cannot mint tokens
    assert answer.json["scope"] == "credentials"
    # a password change needs a sign-in session (step-up), which no token is
    answer = client.patch_json(ME, {"password": "a brand new passphrase", "current_password": DEFAULT_PASSWORD},
                               headers=bearer(token), status=403)
    assert 'scope="credentials"' in answer.headers["WWW-Authenticate"]
    client.patch_json(ME, {"name": "Renamed by a script"}, headers=bearer(token), status=200)


def test_expiry_is_required_in_the_future_and_capped(app, client, auth):
    _user, headers = auth.user()
    assert "expires_at" in client.post_json(TOKENS, {"name": "x", "scopes": ["profile:read"]}, headers=headers,
                                            status=400).json["errors"]
    assert "expires_at" in create(client, headers, days=-1, status=400).json["errors"]
    assert "expires_at" in create(client, headers, days=366, status=400).json["errors"]
    body = create(client, headers, days=364).json
    # once expired it stops working, and is still listed until purged
    with app.app_context(), transaction.manager:
        db.session.execute(update(PersonalAccessToken).values(
            expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    client.get(ME, headers=bearer(body["token"]), status=401)
    assert [item["id"] for item in client.get(TOKENS, headers=headers).json["items"]] == [body["id"]]
    assert app.test_cli_runner().invoke(args=["purge-expired"]).exit_code == 0
    assert client.get(TOKENS, headers=headers).json["items"] == []


def test_creating_needs_a_recent_sign_in(app, client, auth):
    user, headers = auth.user()
    with app.app_context(), transaction.manager:
        db.session.execute(update(AuthSession).where(AuthSession.user_id == user.id).values(
            auth_time=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)))
    answer = create(client, headers, status=401)
    assert 'error="insufficient_user_authentication"' in answer.headers["WWW-Authenticate"]
    client.post_json("/api/v1/auth/reauthenticate", {"password": DEFAULT_PASSWORD}, headers=headers)
    create(client, headers)


def test_revocation_by_the_owner_and_by_an_admin(app, client, auth):
    user, headers = auth.user()
    first = create(client, headers, name="one").json
    second = create(client, headers, name="two").json
    client.delete(f"{TOKENS}/{first['id']}", headers=headers, status=204)
    client.get(ME, headers=bearer(first["token"]), status=401)
    client.delete(f"{TOKENS}/{first['id']}", headers=headers, status=404)
    client.get(f"{TOKENS}/{first['id']}", headers=headers, status=404)
    # another user's token is not yours to see or revoke
    _other, other_headers = auth.user()
    client.delete(f"{TOKENS}/{second['id']}", headers=other_headers, status=404)
    # admins list and revoke anyone's
    admin, admin_headers = auth.admin()
    listed = client.get(f"{USERS}/{user.id}/tokens", headers=admin_headers).json["items"]
    assert [item["name"] for item in listed] == ["two"]
    client.get(f"{USERS}/{user.id}/tokens", headers=other_headers, status=403)
    client.get(f"{USERS}/999999/tokens", headers=admin_headers, status=404)
    client.delete(f"{USERS}/{user.id}/tokens/{second['id']}", headers=admin_headers, status=204)
    client.get(ME, headers=bearer(second["token"]), status=401)
    revocations = [details for kind, details in audit(app, user.id) if kind == "personal_access_token.revoked"]
    assert [(d["token_id"], d["reason"]) for d in revocations] == [(first["id"], "revoked"),
                                                                  (second["id"], "revoked_by_admin")]
    with app.app_context():
        event = db.session.scalars(select(AuditEvent).where(
            AuditEvent.type == "personal_access_token.revoked").order_by(AuditEvent.id.desc())).first()
        assert event.actor_id == admin.id


@pytest.mark.parametrize("ending", ["deactivation", "logout_all", "password_reset_by_admin"])
def test_what_signs_the_owner_out_everywhere_ends_their_tokens(app, client, auth, ending):
    user, headers = auth.user()
    token = create(client, headers).json["token"]
    _admin, admin_headers = auth.admin()
    if ending == "deactivation":
        client.patch_json(f"{USERS}/{user.id}", {"is_active": False}, headers=admin_headers)
        client.patch_json(f"{USERS}/{user.id}", {"is_active": True}, headers=admin_headers)  # back: token stays dead
    elif ending == "logout_all":
        client.post("/api/v1/auth/logout-all", headers=headers, status=204)
    else:
        client.patch_json(f"{USERS}/{user.id}", {"password": "an admin's new passphrase"}, headers=admin_headers)
    client.get(ME, headers=bearer(token), status=401)
    assert ("personal_access_token.revoked" in [kind for kind, _ in audit(app, user.id)])


def test_a_password_reset_keeps_tokens_when_so_configured(make_app):
    from tests.support import ApiClient, UserFactory
    app = make_app(PAT_REVOKE_ON_PASSWORD_RESET=False)
    client, users = ApiClient(app), UserFactory(app)
    user = users.create()
    headers = users.auth_helper(client).headers(user)
    token = create(client, headers).json["token"]
    admin = users.admin()
    client.patch_json(f"{USERS}/{user.id}", {"password": "an admin's new passphrase"},
                      headers=users.auth_helper(client).headers(admin))
    assert client.get(ME, headers=bearer(token)).json["id"] == user.id
    client.get(ME, headers=headers, status=401)  # the sign-in sessions did end


def test_last_use_is_recorded_and_a_new_address_audited(app, client, auth):
    user, headers = auth.user()
    body = create(client, headers).json
    for _ in range(3):
        client.get(ME, headers=bearer(body["token"]), extra_environ={"REMOTE_ADDR": "198.51.100.7"})
    listed = client.get(TOKENS, headers=headers).json["items"][0]
    assert listed["last_used_from"] == "198.51.100.7"
    assert listed["last_used_at"] is not None
    client.get(ME, headers=bearer(body["token"]), extra_environ={"REMOTE_ADDR": "203.0.113.9"})
    assert client.get(TOKENS, headers=headers).json["items"][0]["last_used_from"] == "203.0.113.9"
    new_addresses = [details for kind, details in audit(app, user.id) if kind == "personal_access_token.new_address"]
    assert [d["previous_address"] for d in new_addresses] == [None, "198.51.100.7"]


def test_what_a_token_does_is_audited_with_the_token(app, client, auth):
    admin, headers = auth.admin()
    body = create(client, headers, scopes=["users:write"]).json
    created = client.post_json(USERS, {"email": "made-by-ci@example.com", "name": "CI"}, headers=bearer(body["token"]))
    events = [details for kind, details in audit(app, created.json["id"])]
    assert any(d.get("credential") == f"personal_access_token:{body['id']}" for d in events), events


def test_creation_is_mailed_to_the_owner_without_the_token(mailroom):
    room = mailroom()
    room.register("owner@example.com")
    room.deliver()
    headers = room.headers("owner@example.com")
    token = create(room.client, headers, name="deploy bot", scopes=["profile:read"]).json["token"]
    before = len(room.smtp.messages)
    assert room.deliver() == 0
    sent = [m for m in room.smtp.messages[before:] if m.rcpt_tos == ("owner@example.com",)]
    assert len(sent) == 1
    for text in (sent[0].body, sent[0].html):
        assert "deploy bot" in text
        assert token not in text
        assert token[len(TOKEN_PREFIX):][:10] not in text


def test_a_limit_on_live_tokens(make_app):
    from tests.support import ApiClient, UserFactory
    app = make_app(PAT_MAX_PER_USER=2)
    client, users = ApiClient(app), UserFactory(app)
    headers = users.auth_helper(client).headers(users.create())
    first = create(client, headers).json
    create(client, headers)
    create(client, headers, status=400)
    client.delete(f"{TOKENS}/{first['id']}", headers=headers, status=204)
    create(client, headers)


def test_a_token_cannot_silence_sign_in_alerts(client, auth):
    _user, headers = auth.user()
    client.patch_json(ME, {"sign_in_alerts": True}, headers=headers)
    token = create(client, headers, scopes=["profile:write", "profile:read"]).json["token"]
    refused = client.patch_json(ME, {"sign_in_alerts": False}, headers=bearer(token), status=403)
    assert refused.json["scope"] == "credentials"
    assert client.get(ME, headers=headers).json["sign_in_alerts"] is True
    client.patch_json(ME, {"sign_in_alerts": False}, headers=headers)
    assert client.get(ME, headers=headers).json["sign_in_alerts"] is False


def test_a_token_cannot_mint_accounts_that_sign_in_or_hold_roles(client, auth):
    _admin, headers = auth.admin()
    token = bearer(create(client, headers, scopes=["users:write", "users:read"]).json["token"])
    client.post_json(USERS, {"email": "plain@example.com", "name": "Plain"}, headers=token, status=201)
    for extra in ({"roles": ["user", "admin"]}, {"password": "a passphrase to sign in with"}):
        refused = client.post_json(USERS, {"email": "minted@example.com", "name": "Minted", **extra},
                                   headers=token, status=403)
        assert refused.json["scope"] == "credentials"
    client.post_json(USERS, {"email": "minted@example.com", "name": "Minted", "roles": ["user", "admin"]},
                     headers=headers, status=201)  # a fresh sign-in may


def test_an_admin_token_cannot_revoke_its_owners_credentials_through_the_admin_routes(client, auth):
    admin, headers = auth.admin()
    body = create(client, headers, scopes=["admin"]).json
    other = create(client, headers, name="other").json
    answer = client.delete(f"{USERS}/{admin.id}/tokens/{other['id']}", headers=bearer(body["token"]), status=403)
    assert answer.json["scope"] == "credentials"
    session_id = client.get("/api/v1/users/me/sessions", headers=headers).json["items"][0]["id"]
    client.delete(f"{USERS}/{admin.id}/sessions/{session_id}", headers=bearer(body["token"]), status=403)
    # another user's are an admin token's to end
    user, user_headers = auth.user()
    victim = create(client, user_headers).json
    client.delete(f"{USERS}/{user.id}/tokens/{victim['id']}", headers=bearer(body["token"]), status=204)


def test_activity_bookkeeping_never_fails_a_request(client, auth, monkeypatch):
    from app.repositories import SqlCredentialRepository
    headers = auth.headers(auth.users.create())
    token = bearer(create(client, headers).json["token"])

    def broken(*_args):
        raise RuntimeError("database is locked")
    monkeypatch.setattr(SqlCredentialRepository, "record_token_use", broken)
    assert client.get(ME, headers=token).status_int == 200
