"""Service accounts and the OAuth 2.0 client credentials grant (RFC 6749 section 4.4): admins register machine clients
at /api/v1/service-accounts; the clients trade their client id and secret (HTTP Basic or the form, section 2.3.1) for
scoped access tokens at /api/v1/oauth/token and call the API with them.

The wire format and the rules are checked with WebTest; then authlib's and requests-oauthlib's OAuth2Session fetch
tokens from a gunicorn server on 127.0.0.1 with client_secret_basic and client_secret_post, call the API, raise their
own invalid_client error for a wrong secret, and (authlib) fetch a new token by itself once the old one expired.
"""
import base64
import time
import types
import urllib.parse

import itsdangerous.timed
import pytest
import requests
import transaction
from authlib.integrations.requests_client import OAuth2Session as AuthlibSession
from authlib.integrations.requests_client import OAuthError
from oauthlib.oauth2 import BackendApplicationClient, InvalidClientError
from requests_oauthlib import OAuth2Session as OAuthlibSession
from sqlalchemy import select, update

from app.dependencies import resolve
from app.entities import AuditEvent
from app.entities.service_account import ServiceAccount, ServiceAccountSecret
from app.extensions import db
from app.services.random_tokens import token_digest
from app.services.service_accounts import ServiceAccountService
from tests.live_server import serve
from tests.test_mfa import age_sessions
from tests.test_oauth import METADATA, TOKEN, assert_no_store, assert_oauth_error
from tests.test_sessions import ME, bearer

ACCOUNTS = "/api/v1/service-accounts"
USERS = "/api/v1/users"
AUDIT = "/api/v1/audit-events"
ACCESS_TTL = 3  # seconds: the live server's ACCESS_TOKEN_TTL


# --- helpers -----------------------------------------------------------------------------------------------------

@pytest.fixture
def admin(auth):
    """A signed-in admin: (the user, Authorization headers of a fresh session)."""
    return auth.admin()


def register(client, headers, scopes=("users:read",), name="Nightly export", status=201):
    """POST /service-accounts; the answer's JSON (the account with its `client_secret`)."""
    return client.post_json(ACCOUNTS, {"name": name, "scopes": list(scopes)}, headers=headers, status=status).json


def basic(client_id, client_secret, encode=urllib.parse.quote_plus):
    """An HTTP Basic Authorization header as RFC 6749 section 2.3.1 builds it: each part form-urlencoded first."""
    raw = f"{encode(client_id)}:{encode(client_secret)}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def grant(scope=None, **extra):
    return {"grant_type": "client_credentials", **({"scope": scope} if scope is not None else {}), **extra}


def fetch(client, client_id, client_secret, scope=None, how="basic", status=200):
    """A client credentials token request (client_secret_basic or client_secret_post); the WebTest response."""
    if how == "basic":
        return client.post(TOKEN, grant(scope), headers=basic(client_id, client_secret), status=status)
    return client.post(TOKEN, grant(scope, client_id=client_id, client_secret=client_secret), status=status)


def access_token(client, account, secret=None, scope=None):
    return fetch(client, account["client_id"], secret or account["client_secret"], scope).json["access_token"]


def refused(client, body, error, status=400, **kwargs):
    return assert_oauth_error(client.post(TOKEN, body, expect_errors=True, **kwargs), error, status)


def events(app, event_type):
    with app.app_context(), db.engine.connect() as connection:
        return connection.execute(select(AuditEvent.__table__).where(AuditEvent.type == event_type)
                                  .order_by(AuditEvent.id)).all()


def assert_insufficient_scope(response, scope):
    assert response.status_int == 403, response.body
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="gatehouse"')
    assert 'error="insufficient_scope"' in challenge
    assert f'scope="{scope}"' in challenge
    assert response.json["scope"] == scope


def assert_forbidden(response):
    """403 for an admin operation (POST /users) asked of a token whose scopes give it the user role only: the role
    check of `requires` answers before the scope check, with `error="insufficient_scope"` and no `scope`."""
    assert response.status_int == 403, response.body
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]


def assert_invalid_client(response):
    assert_oauth_error(response, "invalid_client", 401)
    assert response.headers["WWW-Authenticate"] == 'Basic realm="gatehouse"'


# --- registration and the representation -------------------------------------------------------------------------

def test_an_admin_registers_a_service_account_and_sees_its_secret_once(app, client, admin):
    admin_user, headers = admin
    response = client.post_json(ACCOUNTS, {"name": "Nightly export", "scopes": ["users:write", "users:read"]},
                                headers=headers, status=201)
    created = response.json
    assert response.headers["Location"].endswith(f"{ACCOUNTS}/{created['id']}")
    assert created["client_id"].startswith("sa_")
    assert len(created["client_id"]) == 19
    secret = created["client_secret"]
    assert secret.startswith("gatehouse_cs_")
    assert len(secret) == len("gatehouse_cs_") + 43
    assert created["scopes"] == ["users:read", "users:write"]
    assert created["created_by"] == admin_user.id
    [hinted] = created["secrets"]
    assert secret.startswith(hinted["hint"])
    assert len(hinted["hint"]) == 16
    assert hinted["last_used_at"] is None

    shown = client.get(response.headers["Location"], headers=headers, status=200)
    listed = client.get(ACCOUNTS, headers=headers, status=200)
    assert {key: value for key, value in created.items() if key != "client_secret"} == shown.json
    assert listed.json["items"] == [shown.json]
    for later in (shown, listed):  # shown once: never the secret again, nor its digest
        assert secret not in later.text
        assert token_digest(secret) not in later.text
        assert "digest" not in later.text
    with app.app_context():  # stored as its SHA-256 digest only
        assert db.session.scalars(select(ServiceAccountSecret.secret_digest)).all() == [token_digest(secret)]

    [event] = events(app, "service_account.created")
    assert event.actor_id == admin_user.id
    assert event.user_id is None
    assert event.details["client_id"] == created["client_id"]
    assert event.details["scope"] == "users:read users:write"
    assert secret not in str(event.details)


@pytest.mark.parametrize("scopes", [[], ["profile:read"], ["profile:write"], ["credentials"], ["users:read", "root"],
                                    ["users:read", "credentials"]])
def test_a_service_account_holds_only_machine_scopes(client, admin, scopes):
    response = client.post_json(ACCOUNTS, {"name": "x", "scopes": scopes}, headers=admin[1], status=400)
    assert all(name == "scopes" or name.startswith("scopes.") for name in response.json["errors"])
    assert client.get(ACCOUNTS, headers=admin[1]).json["items"] == []


@pytest.mark.parametrize("scopes", [["profile:read"], ["credentials"], []])
def test_the_service_refuses_scopes_no_machine_may_hold(app, scopes):
    """The rule is the service's, not only the schema's."""
    from app.errors import ValidationFailed
    with app.app_context(), pytest.raises(ValidationFailed) as raised:
        resolve(ServiceAccountService).register(None, "direct", scopes)
    assert set(raised.value.errors) == {"scopes"}


def test_registering_needs_a_recent_sign_in(app, client, admin):
    admin_user, headers = admin
    account = register(client, headers)
    age_sessions(app, admin_user.id, app.config["STEP_UP_MAX_AGE"] + 60)
    for path in (ACCOUNTS, f"{ACCOUNTS}/{account['id']}/secrets"):
        response = client.post_json(path, {"name": "late", "scopes": ["users:read"]}, headers=headers, status=401)
        assert response.json["type"] == "urn:gatehouse:problem:insufficient-user-authentication"
        assert 'error="insufficient_user_authentication"' in response.headers["WWW-Authenticate"]
    client.get(ACCOUNTS, headers=headers, status=200)  # reading needs no step-up
    client.delete(f"{ACCOUNTS}/{account['id']}", headers=headers, status=204)  # nor does deleting: it mints nothing
    assert len(client.get(ACCOUNTS, headers=headers).json["items"]) == 0


def test_only_admins_manage_service_accounts(client, admin, auth):
    account = register(client, admin[1])
    _user, headers = auth.user()  # a sign-in session: every scope, but not the admin role
    client.get(ACCOUNTS, headers=headers, status=403)
    client.get(f"{ACCOUNTS}/{account['id']}", headers=headers, status=403)
    client.post_json(ACCOUNTS, {"name": "mine", "scopes": ["users:read"]}, headers=headers, status=403)
    client.post(f"{ACCOUNTS}/{account['id']}/secrets", headers=headers, status=403)
    client.delete(f"{ACCOUNTS}/{account['id']}/secrets/{account['secrets'][0]['id']}", headers=headers, status=403)
    client.delete(f"{ACCOUNTS}/{account['id']}", headers=headers, status=403)
    client.get(ACCOUNTS, status=401)
    assert len(client.get(ACCOUNTS, headers=admin[1]).json["items"]) == 1


def test_unknown_ids_answer_404(client, admin):
    headers = admin[1]
    account, other = register(client, headers), register(client, headers, name="other")
    unknown = other["id"] + 1000
    for response in (client.get(f"{ACCOUNTS}/{unknown}", headers=headers, expect_errors=True),
                     client.delete(f"{ACCOUNTS}/{unknown}", headers=headers, expect_errors=True),
                     client.post(f"{ACCOUNTS}/{unknown}/secrets", headers=headers, expect_errors=True),
                     client.delete(f"{ACCOUNTS}/{unknown}/secrets/1", headers=headers, expect_errors=True),
                     # a secret of another account
                     client.delete(f"{ACCOUNTS}/{account['id']}/secrets/{other['secrets'][0]['id']}",
                                   headers=headers, expect_errors=True)):
        assert response.status_int == 404, response.request.path
        assert response.content_type == "application/problem+json"
    fetch(client, other["client_id"], other["client_secret"])  # untouched


# --- the client credentials grant --------------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["basic", "post"])
def test_the_grant_answers_a_scoped_token_without_a_refresh_token(app, client, admin, how):
    account = register(client, admin[1], scopes=["users:read"])
    response = fetch(client, account["client_id"], account["client_secret"], how=how)
    assert_no_store(response)
    assert response.json.keys() == {"access_token", "token_type", "expires_in", "scope"}  # RFC 6749 4.4.3
    assert response.json["token_type"] == "Bearer"
    assert response.json["expires_in"] == app.config["ACCESS_TOKEN_TTL"]
    assert response.json["scope"] == "users:read"
    token = bearer(response.json["access_token"])
    assert [user["id"] for user in client.get(USERS, headers=token, status=200).json["items"]] == [admin[0].id]
    assert_insufficient_scope(client.get(ME, headers=token, expect_errors=True), "profile:read")
    assert_forbidden(client.post_json(USERS, {"email": "x@example.com", "name": "X"}, headers=token,
                                      expect_errors=True))
    assert_forbidden(client.get(ACCOUNTS, headers=token, expect_errors=True))
    client.get(f"{USERS}/{admin[0].id}", headers=token, status=200)
    shown = client.get(f"{ACCOUNTS}/{account['id']}", headers=admin[1]).json
    assert shown["secrets"][0]["last_used_at"] is not None  # the secret used is recorded


def test_basic_credentials_are_form_urlencoded_before_base64(client, admin):
    """RFC 6749 2.3.1: decoded with unquote_plus, so a client that encodes every character is understood."""
    account = register(client, admin[1])
    every_character = lambda text: "".join(f"%{byte:02X}" for byte in text.encode())  # noqa: E731
    headers = basic(account["client_id"], account["client_secret"], encode=every_character)
    assert client.post(TOKEN, grant(), headers=headers, status=200).json["scope"] == "users:read"


def test_a_service_account_changes_users_audited_with_its_credential(app, client, admin):
    account = register(client, admin[1], scopes=["users:read", "users:write"])
    token = bearer(access_token(client, account))
    created = client.post_json(USERS, {"email": "made-by-a-machine@example.com", "name": "Made"}, headers=token,
                               status=201).json
    [event] = [e for e in events(app, "user.registered") if e.user_id == created["id"]]
    assert event.actor_id is None  # no person: the credential names the actor
    assert event.details["credential"] == f"service_account:{account['client_id']}"
    client.patch_json(f"{USERS}/{created['id']}", {"name": "Renamed"}, headers=token, status=200)


def test_an_admin_scoped_service_account_reads_the_trail_but_cannot_mint_credentials(app, client, admin):
    account = register(client, admin[1], scopes=["admin"])
    token = bearer(access_token(client, account))
    assert client.get(f"{AUDIT}?type=service_account.created", headers=token, status=200).json["items"]
    assert [item["id"] for item in client.get(ACCOUNTS, headers=token, status=200).json["items"]] == [account["id"]]
    # minting needs `credentials`, which only a signed-in person holds (and then a step-up)
    assert_insufficient_scope(client.post_json(ACCOUNTS, {"name": "child", "scopes": ["admin"]}, headers=token,
                                               expect_errors=True), "admin credentials")
    assert_insufficient_scope(client.post(f"{ACCOUNTS}/{account['id']}/secrets", headers=token,
                                          expect_errors=True), "admin credentials")
    assert len(client.get(ACCOUNTS, headers=admin[1]).json["items"]) == 1


def test_a_wrong_secret_or_an_unknown_client_is_invalid_client_and_audited(app, client, admin):
    account = register(client, admin[1])
    other = register(client, admin[1], name="other")
    wrong = "gatehouse_cs_" + "A" * 43
    attempts = [
        client.post(TOKEN, grant(), headers=basic(account["client_id"], wrong), expect_errors=True),
        client.post(TOKEN, grant(client_id=account["client_id"], client_secret=wrong), expect_errors=True),
        # another account's secret is a wrong one too
        client.post(TOKEN, grant(), headers=basic(account["client_id"], other["client_secret"]), expect_errors=True),
        client.post(TOKEN, grant(), headers=basic("sa_0000000000000000", account["client_secret"]),
                    expect_errors=True),
    ]
    for response in attempts:
        assert_invalid_client(response)
        assert "access_token" not in response.text
    failures = events(app, "client_credentials.failed")
    assert [(e.details["client_id"], e.details["reason"]) for e in failures] == [
        (account["client_id"], "wrong_secret")] * 3 + [("sa_0000000000000000", "unknown_client")]
    assert {e.details.get("service_account_id") for e in failures[:3]} == {account["id"]}
    assert all(wrong not in str(e.details) and account["client_secret"] not in str(e.details) for e in failures)
    shown = client.get(f"{ACCOUNTS}/{account['id']}", headers=admin[1]).json
    assert shown["secrets"][0]["last_used_at"] is None


@pytest.mark.parametrize(("body", "headers", "error", "status"), [
    pytest.param(grant(), {}, "invalid_client", 401, id="no client authentication"),
    pytest.param(grant(client_id="sa_0123456789abcdef"), {}, "invalid_client", 401, id="client_id only"),
    pytest.param(grant(client_secret="gatehouse_cs_x"), {}, "invalid_client", 401, id="client_secret only"),
    pytest.param(grant(), {"Authorization": "Basic !!!"}, "invalid_request", 400, id="Basic not base64"),
    pytest.param(grant(), {"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()}, "invalid_request",
                 400, id="Basic without a colon"),
    pytest.param(grant(), {"Authorization": "Basic " + base64.b64encode(b"sa_x:").decode()}, "invalid_request", 400,
                 id="Basic with an empty secret"),
    pytest.param(grant(), {"Authorization": "Basic " + base64.b64encode(b"sa_x:a%0Ab").decode()}, "invalid_request",
                 400, id="Basic with a control character"),
    pytest.param(grant(client_id="x\x00"), {}, "invalid_request", 400, id="client_id with NUL"),
    pytest.param(grant(client_id="x" * 256, client_secret="y"), {}, "invalid_request", 400, id="client_id too long"),
    pytest.param([("grant_type", "client_credentials"), ("client_id", "a"), ("client_id", "b"),
                  ("client_secret", "c")], {}, "invalid_request", 400, id="client_id twice"),
    pytest.param(grant(scope="users:read  users:write", client_id="a", client_secret="b"), {}, "invalid_scope", 400,
                 id="malformed scope"),
])
def test_client_authentication_errors(app, client, body, headers, error, status):
    response = refused(client, body, error, status, headers=headers)
    if status == 401:
        assert response.headers["WWW-Authenticate"] == 'Basic realm="gatehouse"'
    assert events(app, "client_credentials.failed") == []  # nothing named a client to audit


def test_authenticating_two_ways_at_once_is_an_invalid_request(client, admin):
    account = register(client, admin[1])
    client_id, secret = account["client_id"], account["client_secret"]
    headers = basic(client_id, secret)
    refused(client, grant(client_id=client_id, client_secret=secret), "invalid_request", headers=headers)
    refused(client, grant(client_secret=secret), "invalid_request", headers=headers)
    refused(client, grant(client_id="sa_someone_else"), "invalid_request", headers=headers)
    # the same client_id in the form as in the header (some libraries add it) is one way
    assert client.post(TOKEN, grant(client_id=client_id), headers=headers, status=200).json["scope"] == "users:read"


def test_the_scope_parameter_narrows_the_token_to_scopes_the_account_holds(client, admin):
    account = register(client, admin[1], scopes=["users:read", "users:write"])
    client_id, secret = account["client_id"], account["client_secret"]
    assert fetch(client, client_id, secret).json["scope"] == "users:read users:write"  # default: all of them
    assert fetch(client, client_id, secret, "users:write users:read").json["scope"] == "users:read users:write"
    narrowed = fetch(client, client_id, secret, "users:read").json
    assert narrowed["scope"] == "users:read"
    token = bearer(narrowed["access_token"])
    client.get(USERS, headers=token, status=200)
    assert_forbidden(client.post_json(USERS, {"email": "n@example.com", "name": "N"}, headers=token,
                                      expect_errors=True))
    assert users_count(client, admin) == 1
    for scope in ("admin", "users:read admin", "profile:read", "credentials", "openid"):
        response = refused(client, grant(scope), "invalid_scope", headers=basic(client_id, secret))
        assert "users:read users:write" in response.json["error_description"]  # says what it may ask for


def users_count(client, admin):
    return len(client.get(USERS, headers=admin[1]).json["items"])


def test_a_narrowed_admin_account_keeps_the_scope_check(client, admin):
    """With the admin role from `users:write`, an operation needing `admin` answers the scope it lacks."""
    account = register(client, admin[1], scopes=["users:write", "admin"])
    token = bearer(access_token(client, account, scope="users:write"))
    assert_insufficient_scope(client.get(ACCOUNTS, headers=token, expect_errors=True), "admin")
    assert_insufficient_scope(client.get(AUDIT, headers=token, expect_errors=True), "admin")
    client.get(ACCOUNTS, headers=bearer(access_token(client, account)), status=200)


def test_a_refresh_still_refuses_any_scope(client, users):
    from tests.test_sessions import login
    pair = login(client, users.create())
    refused(client, {"grant_type": "refresh_token", "refresh_token": pair["refresh_token"], "scope": "users:read"},
            "invalid_scope")


def test_rotation_without_downtime(app, client, admin):
    _admin_user, headers = admin
    account = register(client, headers)
    client_id, old = account["client_id"], account["client_secret"]
    old_token = bearer(access_token(client, account))

    response = client.post(f"{ACCOUNTS}/{account['id']}/secrets", headers=headers, status=201)
    assert response.headers["Location"].endswith(f"{ACCOUNTS}/{account['id']}")
    new = response.json["client_secret"]
    assert new.startswith(response.json["hint"])
    assert new != old
    assert response.json["last_used_at"] is None
    fetch(client, client_id, old)  # both work meanwhile
    new_token = bearer(fetch(client, client_id, new, how="post").json["access_token"])
    shown = client.get(f"{ACCOUNTS}/{account['id']}", headers=headers).json
    assert [secret["id"] for secret in shown["secrets"]] == [account["secrets"][0]["id"], response.json["id"]]
    assert all(secret["last_used_at"] for secret in shown["secrets"])

    third = client.post(f"{ACCOUNTS}/{account['id']}/secrets", headers=headers, status=409)
    assert third.json["type"] == "urn:gatehouse:problem:too-many-client-secrets"
    assert len(client.get(f"{ACCOUNTS}/{account['id']}", headers=headers).json["secrets"]) == 2

    client.delete(f"{ACCOUNTS}/{account['id']}/secrets/{account['secrets'][0]['id']}", headers=headers, status=204)
    assert_invalid_client(fetch(client, client_id, old, status=401))
    fetch(client, client_id, new)
    client.get(USERS, headers=new_token, status=200)
    client.get(USERS, headers=old_token, status=200)  # tokens already issued live out their ACCESS_TOKEN_TTL
    client.post(f"{ACCOUNTS}/{account['id']}/secrets", headers=headers, status=201)  # room for the next rotation

    assert [e.details["hint"] for e in events(app, "service_account.secret_added")] == [
        response.json["hint"], client.get(f"{ACCOUNTS}/{account['id']}", headers=headers).json["secrets"][1]["hint"]]
    [deleted] = events(app, "service_account.secret_deleted")
    assert deleted.details["secret_id"] == account["secrets"][0]["id"]
    assert deleted.actor_id == admin[0].id


def test_deleting_the_account_stops_its_live_tokens_at_once(app, client, admin):
    admin_user, headers = admin
    account = register(client, headers)
    token = bearer(access_token(client, account))
    client.get(USERS, headers=token, status=200)
    client.delete(f"{ACCOUNTS}/{account['id']}", headers=headers, status=204)
    response = client.get(USERS, headers=token, status=401)
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert_invalid_client(fetch(client, account["client_id"], account["client_secret"], status=401))
    client.get(f"{ACCOUNTS}/{account['id']}", headers=headers, status=404)
    client.delete(f"{ACCOUNTS}/{account['id']}", headers=headers, status=404)
    with app.app_context():  # its secrets went with it
        assert db.session.scalars(select(ServiceAccountSecret)).all() == []
    [event] = events(app, "service_account.deleted")
    assert event.actor_id == admin_user.id
    assert event.details["client_id"] == account["client_id"]


def test_a_token_of_a_deleted_account_stays_dead_when_its_id_is_given_again(app, client, admin):
    """SQLite may reuse the highest rowid: the token names its client id too."""
    account = register(client, admin[1])
    token = bearer(access_token(client, account))
    client.delete(f"{ACCOUNTS}/{account['id']}", headers=admin[1], status=204)
    again = register(client, admin[1], name="successor")
    with app.app_context():
        ids = db.session.scalars(select(ServiceAccount.id)).all()
    assert ids == [again["id"]]
    client.get(USERS, headers=token, status=401)


def test_a_scope_taken_from_the_account_leaves_its_live_tokens_at_once(app, client, admin):
    """No endpoint changes an account's scopes; an operator narrowing them in the database is obeyed at once."""
    account = register(client, admin[1], scopes=["users:read", "admin"])
    token = bearer(access_token(client, account))
    client.get(ACCOUNTS, headers=token, status=200)
    with app.app_context(), transaction.manager:
        db.session.execute(update(ServiceAccount).where(ServiceAccount.id == account["id"]).values(scope="users:read"))
    assert_forbidden(client.get(ACCOUNTS, headers=token, expect_errors=True))  # no admin scope, no admin role
    client.get(USERS, headers=token, status=200)


def test_tokens_expire_after_access_token_ttl(app, client, admin, monkeypatch):
    account = register(client, admin[1])
    token = bearer(access_token(client, account))
    client.get(USERS, headers=token, status=200)
    later = time.time() + app.config["ACCESS_TOKEN_TTL"] + 2
    monkeypatch.setattr(itsdangerous.timed, "time", types.SimpleNamespace(time=lambda: later))  # itsdangerous' clock
    client.get(USERS, headers=token, status=401)
    client.get(USERS, headers=bearer(access_token(client, account)), status=200)  # a new one works


@pytest.mark.parametrize("forge", [
    pytest.param(lambda token: token[:-2] + ("AA" if not token.endswith("AA") else "BB"), id="tampered"),
    pytest.param(lambda token: itsdangerous.URLSafeTimedSerializer("another key", salt="x").dumps({"sa": 1}),
                 id="another key"),
])
def test_a_forged_token_is_refused(client, admin, forge):
    account = register(client, admin[1])
    client.get(USERS, headers=bearer(forge(access_token(client, account))), status=401)


def test_the_metadata_names_the_grant_and_its_client_authentication(client):
    metadata = client.get(METADATA, status=200).json
    assert "client_credentials" in metadata["grant_types_supported"]
    assert {"client_secret_basic", "client_secret_post"} <= set(metadata["token_endpoint_auth_methods_supported"])
    assert metadata["scopes_supported"] == ["admin", "users:read", "users:write"]


# --- client libraries against a live server ----------------------------------------------------------------------

@pytest.fixture
def live(database_url, tmp_path):
    """gunicorn (one worker) on a free 127.0.0.1 port over the test database, access tokens living ACCESS_TTL
    seconds: {"base", "token" (from its RFC 8414 metadata), "users", "me"}."""
    with serve(tmp_path, DATABASE_URL=database_url, ACCESS_TOKEN_TTL=str(ACCESS_TTL), WEB_CONCURRENCY="1",
               DRAIN_SECONDS="0", MAIL_QUEUE_PATH=str(tmp_path / "mail")) as (base, output):
        metadata = requests.get(base + METADATA, timeout=10).json()
        yield {"base": base, "token": metadata["token_endpoint"], "users": base + USERS, "me": base + ME}
    assert "Traceback" not in "".join(output)


@pytest.fixture
def machine(app):
    """A service account holding users:read, registered directly (secrets are digests: any server checks them)."""
    with app.app_context():
        account, client_id, secret = resolve(ServiceAccountService).register(None, "live", ["users:read"])
    return {"id": account["id"], "client_id": client_id, "client_secret": secret}


def assert_library_sees_insufficient_scope(response):
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
    assert 'scope="profile:read"' in response.headers["WWW-Authenticate"]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_authlib_fetches_a_client_credentials_token_and_calls_the_api(live, machine, method):
    session = AuthlibSession(machine["client_id"], machine["client_secret"], scope="users:read",
                             token_endpoint_auth_method=method, leeway=0)  # tokens live ACCESS_TTL seconds here
    token = session.fetch_token(live["token"], grant_type="client_credentials")
    assert token["scope"] == "users:read"
    assert "refresh_token" not in token
    assert token["expires_in"] == ACCESS_TTL
    assert session.get(live["users"], timeout=10).status_code == 200
    assert_library_sees_insufficient_scope(session.get(live["me"], timeout=10))

    wrong = AuthlibSession(machine["client_id"], "gatehouse_cs_wrong", token_endpoint_auth_method=method)
    with pytest.raises(OAuthError) as raised:
        wrong.fetch_token(live["token"], grant_type="client_credentials")
    assert raised.value.error == "invalid_client"
    with pytest.raises(OAuthError) as raised:
        AuthlibSession(machine["client_id"], machine["client_secret"], scope="admin",
                       token_endpoint_auth_method=method).fetch_token(live["token"], grant_type="client_credentials")
    assert raised.value.error == "invalid_scope"


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_authlib_fetches_a_new_token_by_itself_once_the_old_one_expired(live, machine):
    updates = []
    session = AuthlibSession(machine["client_id"], machine["client_secret"], token_endpoint=live["token"], leeway=0,
                             grant_type="client_credentials",  # what to do once the token expires
                             update_token=lambda new, access_token=None, **_: updates.append((new, access_token)))
    first = session.fetch_token(live["token"])
    assert session.get(live["users"], timeout=10).status_code == 200
    deadline = time.monotonic() + ACCESS_TTL + 5
    while requests.get(live["users"], headers=bearer(first["access_token"]), timeout=10).status_code != 401:
        assert time.monotonic() < deadline, "the access token never expired"
        time.sleep(0.25)
    assert session.get(live["users"], timeout=10).status_code == 200  # a new client_credentials grant first
    [(new, spent)] = updates
    assert spent == first["access_token"]
    assert new["access_token"] != spent


@pytest.mark.timeout(60)
@pytest.mark.parametrize("include_client_id", [False, True], ids=["client_secret_basic", "client_secret_post"])
def test_requests_oauthlib_backend_application_client(live, machine, monkeypatch, include_client_id):
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # plain http on 127.0.0.1 (https everywhere else)
    session = OAuthlibSession(client=BackendApplicationClient(client_id=machine["client_id"], scope=["users:read"]))
    token = session.fetch_token(live["token"], client_secret=machine["client_secret"],
                                include_client_id=include_client_id)
    assert token["scope"] == ["users:read"]
    assert "refresh_token" not in token
    assert session.get(live["users"], timeout=10).status_code == 200
    assert_library_sees_insufficient_scope(session.get(live["me"], timeout=10))

    wrong = OAuthlibSession(client=BackendApplicationClient(client_id=machine["client_id"]))
    with pytest.raises(InvalidClientError):
        wrong.fetch_token(live["token"], client_secret="gatehouse_cs_wrong", include_client_id=include_client_id)
