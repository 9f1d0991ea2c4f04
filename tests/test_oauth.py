"""OAuth 2.0 for client libraries: the form-encoded token endpoint of the refresh_token grant (RFC 6749 section 6,
responses by 5.1, errors by 5.2), token revocation (RFC 7009) and authorization server metadata (RFC 8414).

The wire format is checked with WebTest; then authlib's and requests-oauthlib's OAuth2Session drive a gunicorn
server on 127.0.0.1 (access tokens living ACCESS_TTL seconds): each refreshes an expired access token by itself,
hands the rotated refresh token to its update hook, raises its own invalid_grant error for a spent refresh token,
and authlib's revoke_token ends the session.
"""
import base64
import re
import time

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session as AuthlibSession
from authlib.integrations.requests_client import OAuthError
from oauthlib.oauth2 import InvalidGrantError
from requests_oauthlib import OAuth2Session as OAuthlibSession

from tests.live_server import serve
from tests.support import ApiClient
from tests.test_rate_limits import from_address, limited_client
from tests.test_sessions import (
    LOGIN,
    LOGOUT,
    ME,
    REFRESH,
    assert_refresh_rejected,
    assert_works,
    audit_events,
    bearer,
    expire_session,
    login,
    refresh,
    session_id_of,
)

TOKEN = "/api/v1/oauth/token"
REVOKE = "/api/v1/oauth/revoke"
METADATA = "/.well-known/oauth-authorization-server"
CLIENT_ID = "gatehouse-test-client"  # public clients send one; Gatehouse ignores it
ACCESS_TTL = 3  # seconds: the live server's ACCESS_TOKEN_TTL
# RFC 6749 5.2: error_description is printable ASCII without '"' and '\'.
DESCRIPTION = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]+")


# --- helpers -----------------------------------------------------------------------------------------------------

def grant(refresh_token, **extra):
    return {"grant_type": "refresh_token", "refresh_token": refresh_token, **extra}


def assert_no_store(response):
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"


def assert_oauth_error(response, error, status=400):
    """An RFC 6749 section 5.2 error document, never a problem document."""
    assert response.status_int == status, response.body
    assert response.content_type == "application/json"
    assert set(response.json) == {"error", "error_description"}
    assert response.json["error"] == error
    assert DESCRIPTION.fullmatch(response.json["error_description"])
    assert_no_store(response)
    return response


def token_error(client, body, error, status=400, **kwargs):
    return assert_oauth_error(client.post(TOKEN, body, expect_errors=True, **kwargs), error, status)


def revoke(client, token, **extra):
    """Revoke `token` and check the RFC 7009 answer: 200 without content."""
    response = client.post(REVOKE, {"token": token, **extra}, status=200)
    assert response.body == b""
    assert "Content-Type" not in response.headers
    return response


# --- the token endpoint ------------------------------------------------------------------------------------------

def test_the_refresh_token_grant_answers_a_token_response_and_rotates(app, client, users):
    user = users.create()
    first = login(client, user)
    basic = base64.b64encode(f"{CLIENT_ID}:".encode()).decode()
    response = client.post(TOKEN, grant(first["refresh_token"], client_id=CLIENT_ID, scope="", unknown="ignored"),
                           headers={"Authorization": f"Basic {basic}"}, status=200)  # client credentials ignored
    assert response.content_type == "application/json"
    assert_no_store(response)
    second = response.json
    assert set(second) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert second["token_type"] == "Bearer"
    assert second["expires_in"] == app.config["ACCESS_TOKEN_TTL"]
    assert second["refresh_token"] != first["refresh_token"]
    assert client.get(ME, headers=bearer(second["access_token"])).json["id"] == user.id
    third = client.post(TOKEN, grant(second["refresh_token"]), status=200).json  # the chain goes on
    assert_works(client, third)


@pytest.mark.parametrize("spend_with", ["form", "json"])
def test_the_form_and_json_endpoints_share_one_rotation_and_reuse_detection(app, client, users, spend_with):
    """The same token family whichever endpoint is used: a token spent on one is reuse on the other."""
    user = users.create()
    first, other_session = login(client, user), login(client, user)
    if spend_with == "form":
        second = client.post(TOKEN, grant(first["refresh_token"]), status=200).json
        assert_refresh_rejected(client, first["refresh_token"])  # JSON: 401 problem; ends the session
    else:
        second = refresh(client, first["refresh_token"]).json
        token_error(client, grant(first["refresh_token"]), "invalid_grant")
    token_error(client, grant(second["refresh_token"]), "invalid_grant")  # the family is dead
    client.get(ME, headers=bearer(second["access_token"]), status=401)
    assert len(audit_events(app, "refresh_token.reused", user.id)) == 1
    assert_works(client, other_session)


@pytest.mark.parametrize(("body", "error"), [
    pytest.param({"refresh_token": "x"}, "invalid_request", id="no grant_type"),
    pytest.param({"grant_type": "", "refresh_token": "x"}, "invalid_request", id="empty grant_type"),
    pytest.param({"grant_type": "password", "username": "a@example.com", "password": "secret passphrase"},
                 "unsupported_grant_type", id="password grant"),
    pytest.param({"grant_type": "authorization_code", "code": "abc"}, "unsupported_grant_type", id="code grant"),
    pytest.param({"grant_type": "urn:ietf:params:oauth:grant-type:device_code", "device_code": "abc"},
                 "unsupported_grant_type", id="device code grant"),
    pytest.param({"grant_type": "refresh_token", "client_id": "x\x01"}, "invalid_request",
                 id="a client_id that is no VSCHAR"),
    pytest.param({"grant_type": "refresh_token"}, "invalid_request", id="no refresh_token"),
    pytest.param(grant(""), "invalid_request", id="empty refresh_token"),
    pytest.param(grant("x" * 513), "invalid_request", id="over-long refresh_token"),
    pytest.param([("grant_type", "refresh_token"), ("refresh_token", "a"), ("refresh_token", "b")], "invalid_request",
                 id="refresh_token twice"),
    pytest.param([("grant_type", "refresh_token"), ("grant_type", "password"), ("refresh_token", "a")],
                 "invalid_request", id="grant_type twice"),
    pytest.param(grant("x", scope="openid"), "invalid_scope", id="a scope"),
    pytest.param(grant("not-a-token-we-issued"), "invalid_grant", id="unknown refresh token"),
])
def test_token_request_errors_are_rfc_6749_errors(client, body, error):
    token_error(client, body, error)


@pytest.mark.parametrize("send", [
    pytest.param(lambda client: client.post_json(TOKEN, grant("x"), expect_errors=True), id="JSON"),
    pytest.param(lambda client: client.post(TOKEN, expect_errors=True), id="no body"),
    pytest.param(lambda client: client.post(TOKEN, grant("x"), content_type="multipart/form-data",
                                            expect_errors=True), id="multipart"),
    pytest.param(lambda client: client.post(TOKEN, grant("x" * (65 * 1024)), expect_errors=True), id="too large"),
])
def test_a_body_that_is_not_a_small_form_is_an_invalid_request(client, send):
    assert_oauth_error(send(client), "invalid_request")


def test_a_refresh_token_of_an_expired_or_ended_session_is_an_invalid_grant(app, client, users):
    expired = login(client, users.create())
    expire_session(app, session_id_of(app, expired["refresh_token"]))
    token_error(client, grant(expired["refresh_token"]), "invalid_grant")
    pair = login(client, users.create())
    client.post(LOGOUT, headers=bearer(pair["access_token"]), status=204)
    token_error(client, grant(pair["refresh_token"]), "invalid_grant")


def test_the_token_endpoint_is_rate_limited_like_the_json_refresh(make_app):
    _app, client = limited_client(make_app, account="2/minute")
    for _ in range(2):
        token_error(client, grant("the same guess"), "invalid_grant", **from_address("10.0.2.1"))
    response = token_error(client, grant("the same guess"), "slow_down", 429, **from_address("10.0.2.2"))
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    token_error(client, grant("another guess"), "invalid_grant")  # keyed by the refresh token, as /auth/refresh
    for _ in range(2):
        client.post_json(REFRESH, {"refresh_token": "the same guess"}, status=401)  # its own bucket


# --- revocation (RFC 7009) ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("hint", [None, "refresh_token", "access_token", "id_token"])
def test_revoking_a_refresh_token_ends_its_session_and_only_it(app, client, users, hint):
    user = users.create()
    this, other = login(client, user), login(client, user)
    revoke(client, this["refresh_token"], **({"token_type_hint": hint} if hint else {}))
    client.get(ME, headers=bearer(this["access_token"]), status=401)
    token_error(client, grant(this["refresh_token"]), "invalid_grant")
    assert_works(client, other)
    assert [event.details["reason"] for event in audit_events(app, "logout", user.id)] == ["revocation"]


@pytest.mark.parametrize("hint", [None, "access_token", "refresh_token"])
def test_revoking_an_access_token_ends_its_whole_session(client, users, hint):
    user = users.create()
    this, other = login(client, user), login(client, user)
    revoke(client, this["access_token"], client_id=CLIENT_ID, **({"token_type_hint": hint} if hint else {}))
    client.get(ME, headers=bearer(this["access_token"]), status=401)
    token_error(client, grant(this["refresh_token"]), "invalid_grant")
    assert_works(client, other)


def test_revoking_a_spent_refresh_token_ends_the_session_it_belonged_to(client, users):
    first = login(client, users.create())
    second = client.post(TOKEN, grant(first["refresh_token"]), status=200).json
    revoke(client, first["refresh_token"])
    client.get(ME, headers=bearer(second["access_token"]), status=401)
    token_error(client, grant(second["refresh_token"]), "invalid_grant")


@pytest.mark.parametrize("token", ["garbage", "x" * 5000, "Xq3rV0b1m7o9QyTq2cJ8kq6H0m3pXzY5r4n2w1v0u9s"],
                         ids=["garbage", "long", "unknown"])
def test_revoking_an_unknown_token_answers_200_and_changes_nothing(client, users, token):
    pair = login(client, users.create())
    revoke(client, token)
    revoke(client, token, token_type_hint="access_token")
    assert_works(client, pair)


def test_revoking_twice_is_harmless(client, users):
    pair = login(client, users.create())
    revoke(client, pair["refresh_token"])
    revoke(client, pair["refresh_token"])
    revoke(client, pair["access_token"])
    client.get(ME, headers=bearer(pair["access_token"]), status=401)


@pytest.mark.parametrize("body", [{}, {"token": ""}, {"token_type_hint": "refresh_token"},
                                  [("token", "a"), ("token", "b")]], ids=["empty", "blank", "no token", "twice"])
def test_a_revocation_without_one_token_is_an_invalid_request(client, body):
    assert_oauth_error(client.post(REVOKE, body, expect_errors=True), "invalid_request")


def test_a_json_revocation_is_an_invalid_request_and_revokes_nothing(client, users):
    pair = login(client, users.create())
    assert_oauth_error(client.post_json(REVOKE, {"token": pair["refresh_token"]}, expect_errors=True),
                       "invalid_request")
    assert_works(client, pair)


def test_revocation_is_rate_limited_per_address(make_app):
    _app, client = limited_client(make_app, address="2/minute")
    for _ in range(2):
        revoke(client, "guess")
    response = assert_oauth_error(client.post(REVOKE, {"token": "guess"}, expect_errors=True), "slow_down", 429)
    assert int(response.headers["Retry-After"]) >= 1


# --- metadata (RFC 8414) -----------------------------------------------------------------------------------------

def test_the_metadata_document_describes_the_endpoints(client):
    response = client.get(METADATA, status=200)
    assert response.content_type == "application/json"
    metadata = response.json
    assert metadata == {
        "issuer": "http://localhost",
        "token_endpoint": "http://localhost/api/v1/oauth/token",
        "revocation_endpoint": "http://localhost/api/v1/oauth/revoke",
        "grant_types_supported": ["refresh_token", "client_credentials"],
        "response_types_supported": [],  # required by RFC 8414 section 2; there is no authorization endpoint
        # public clients refresh; service accounts authenticate for the client credentials grant
        "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["none"],
        "scopes_supported": ["admin", "users:read", "users:write"],  # what a service account can be granted
        "service_documentation": "http://localhost/swagger-ui/",
    }
    client.get(metadata["service_documentation"].removeprefix("http://localhost"), status=200)


def test_the_issuer_follows_the_url_the_client_used_behind_a_proxy(make_app):
    client = ApiClient(make_app(PROXY_HOPS=1))
    metadata = client.get(METADATA, headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "auth.example.com"},
                          status=200).json
    # RFC 8414 section 3.3: the issuer is the URL the well-known path was inserted into
    assert metadata["issuer"] == "https://auth.example.com"
    assert metadata["token_endpoint"] == "https://auth.example.com/api/v1/oauth/token"


def test_the_openapi_document_describes_form_requests_and_oauth_errors(client):
    spec = client.get("/openapi.json").json
    token = spec["paths"][TOKEN]["post"]
    form = token["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    assert set(form["required"]) == {"grant_type"}  # the rest depends on the grant
    assert {"refresh_token", "scope", "client_id", "client_secret"} <= set(form["properties"])
    assert set(form["properties"]["grant_type"]["enum"]) == {"refresh_token", "client_credentials"}
    assert "client_credentials" in token["description"]
    assert "refresh_token" in token["description"]
    assert token["security"] == []
    for path, statuses in ((TOKEN, ("400", "401", "429")), (REVOKE, ("400", "429"))):
        for status in statuses:
            assert set(spec["paths"][path]["post"]["responses"][status]["content"]) == {"application/json"}
    assert token["responses"]["401"]["headers"]["WWW-Authenticate"]["required"] is True
    assert "content" not in spec["paths"][REVOKE]["post"]["responses"]["200"]


# --- client libraries against a live server ----------------------------------------------------------------------

@pytest.fixture
def live_server(database_url, tmp_path):
    """gunicorn (gunicorn.conf.py, one worker) on a free 127.0.0.1 port over the test database, access tokens living
    ACCESS_TTL seconds; stopped after the test. Yields the base URL."""
    with serve(tmp_path, DATABASE_URL=database_url, ACCESS_TOKEN_TTL=str(ACCESS_TTL), WEB_CONCURRENCY="1",
               DRAIN_SECONDS="0", MAIL_QUEUE_PATH=str(tmp_path / "mail")) as (base, output):
        yield base
    assert "Traceback" not in "".join(output)


@pytest.fixture
def live(live_server):
    """The live server's URLs, the OAuth ones discovered from its RFC 8414 metadata."""
    metadata = requests.get(live_server + METADATA, timeout=10).json()
    assert metadata["issuer"] == live_server
    return {"base": live_server, "me": live_server + ME, "token": metadata["token_endpoint"],
            "revoke": metadata["revocation_endpoint"]}


def sign_in(live, email):
    """Register and log in through the JSON API; the token as a client library stores it (with `expires_at`)."""
    password = "a long enough passphrase"
    requests.post(f"{live['base']}/api/v1/auth/register", json={"email": email, "name": "OAuth", "password": password},
                  timeout=10).raise_for_status()
    response = requests.post(live["base"] + LOGIN, json={"email": email, "password": password}, timeout=10)
    response.raise_for_status()
    token = response.json()
    assert token["expires_in"] == ACCESS_TTL
    return {**token, "expires_at": int(time.time()) + token["expires_in"]}


def wait_until_the_server_refuses(live, token):
    """Wait until the access token has expired for the server too (401 when presented by hand)."""
    deadline = time.monotonic() + ACCESS_TTL + 5
    while requests.get(live["me"], headers=bearer(token["access_token"]), timeout=10).status_code != 401:
        assert time.monotonic() < deadline, "the access token never expired"
        time.sleep(0.25)


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_authlib_refreshes_by_itself_stores_the_rotation_and_raises_invalid_grant_on_reuse(live):
    token = sign_in(live, "authlib@example.com")
    updates = []
    session = AuthlibSession(client_id=CLIENT_ID, token=token, token_endpoint=live["token"], leeway=0,
                             update_token=lambda new, refresh_token=None, access_token=None:
                             updates.append((dict(new), refresh_token)))
    assert session.get(live["me"], timeout=10).status_code == 200
    assert updates == []  # still fresh: no refresh

    wait_until_the_server_refuses(live, token)
    response = session.get(live["me"], timeout=10)  # authlib refreshes first, by itself
    assert response.status_code == 200
    assert response.json()["email"] == "authlib@example.com"
    [(stored, spent)] = updates
    assert spent == token["refresh_token"]
    assert stored["refresh_token"] not in (None, spent)  # the rotated token reached the hook
    assert session.token["refresh_token"] == stored["refresh_token"]

    with pytest.raises(OAuthError) as raised:  # the spent token again: reuse
        session.refresh_token(live["token"], refresh_token=spent)
    assert raised.value.error == "invalid_grant"
    assert session.get(live["me"], timeout=10).status_code == 401  # reuse ended the session
    assert len(updates) == 1  # the error document was never taken for a token


@pytest.mark.timeout(60)
def test_authlib_revoke_token_ends_the_session(live):
    token = sign_in(live, "revoker@example.com")
    session = AuthlibSession(client_id=CLIENT_ID, token=token, token_endpoint=live["token"], leeway=0)
    assert session.get(live["me"], timeout=10).status_code == 200
    response = session.revoke_token(live["revoke"], token=token["refresh_token"], token_type_hint="refresh_token")
    assert (response.status_code, response.content) == (200, b"")
    assert session.get(live["me"], timeout=10).status_code == 401
    with pytest.raises(OAuthError) as raised:
        session.refresh_token(live["token"])
    assert raised.value.error == "invalid_grant"


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_requests_oauthlib_auto_refreshes_stores_the_rotation_and_raises_invalid_grant_on_reuse(live, monkeypatch):
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # plain http on 127.0.0.1 (https everywhere else)
    token = sign_in(live, "oauthlib@example.com")
    updates = []
    session = OAuthlibSession(client_id=CLIENT_ID, token=token, auto_refresh_url=live["token"],
                              auto_refresh_kwargs={"client_id": CLIENT_ID}, token_updater=updates.append)
    assert session.get(live["me"], timeout=10).status_code == 200
    assert updates == []

    wait_until_the_server_refuses(live, token)
    response = session.get(live["me"], timeout=10)  # TokenExpiredError inside: refreshed at auto_refresh_url
    assert response.status_code == 200
    assert response.json()["email"] == "oauthlib@example.com"
    [stored] = updates
    assert stored["refresh_token"] not in (None, token["refresh_token"])
    assert session.token["refresh_token"] == stored["refresh_token"]

    with pytest.raises(InvalidGrantError):
        session.refresh_token(live["token"], refresh_token=token["refresh_token"])
    assert session.get(live["me"], timeout=10).status_code == 401
