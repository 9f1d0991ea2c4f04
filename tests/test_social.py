"""Social login (POST /api/v1/auth/social/<provider>) against a real JWKS endpoint on 127.0.0.1.

The fake provider (tests/oidc_provider.py) generates RSA keys and signs ID tokens with PyJWT; the app fetches its
JWKS over HTTP exactly as it fetches Google's.
"""
import time

import jwt
import pyotp
import pytest
import transaction
from sqlalchemy import func, select

from app.configs import GOOGLE_JWKS_URL, ConfigurationError, TestConfig, oidc_providers
from app.dependencies import resolve
from app.entities import AuditEvent, AuthSession, SocialIdentity, User
from app.entities.types import utcnow
from app.extensions import db
from app.services.users import UserService
from tests.oidc_provider import CLIENT_ID, ISSUER, FakeOidcProvider, closed_port, new_rsa_key, without
from tests.support import DEFAULT_PASSWORD, ApiClient

SOCIAL = "/api/v1/auth/social/test"
INVALID_ID_TOKEN = "urn:gatehouse:problem:invalid-id-token"
TOKEN_FIELDS = {"access_token", "token_type", "expires_in", "refresh_token"}


# --- fixtures and helpers --------------------------------------------------------------------------------------
@pytest.fixture
def provider():
    """The fake provider, its JWKS endpoint serving for the duration of the test."""
    with FakeOidcProvider() as fake:
        yield fake


@pytest.fixture
def social_app(make_app, provider):
    """An app with the fake provider configured as `test` (a new app per test: a fresh JWKS cache)."""
    return make_app(OIDC_PROVIDERS={"test": provider.settings()})


@pytest.fixture
def api(social_app):
    return ApiClient(social_app)


def social_login(api, token, status=200, path=SOCIAL):
    return api.post_json(path, {"id_token": token}, status=status)


def password_login(api, email, password=DEFAULT_PASSWORD, status=200):
    return api.post_json("/api/v1/auth/login", {"email": email, "password": password}, status=status)


def bearer(token_response):
    return {"Authorization": f"Bearer {token_response.json['access_token']}"}


def me(api, response, status=200):
    return api.get("/api/v1/users/me", headers=bearer(response), status=status)


def _read(app, statement):
    """Rows of `statement`, read in their own app context (plain tuples: nothing stays attached)."""
    with app.app_context():
        try:
            return db.session.execute(statement).all()
        finally:
            transaction.abort()


def count(app, entity):
    return _read(app, select(func.count()).select_from(entity))[0][0]


def events(app, *types):
    """The audit trail, oldest first, as (type, user_id, details); only `types` when given."""
    rows = _read(app, select(AuditEvent.type, AuditEvent.user_id, AuditEvent.details).order_by(AuditEvent.id))
    return [(type_, user_id, details) for type_, user_id, details in rows if not types or type_ in types]


def identities(app):
    return _read(app, select(SocialIdentity.provider, SocialIdentity.subject, SocialIdentity.user_id)
                 .order_by(SocialIdentity.id))


def verified_user(app, email, password=DEFAULT_PASSWORD):
    """An account with a password whose email was verified (as if the mailed token had been redeemed)."""
    with app.app_context():
        return resolve(UserService).create(email=email, name="Existing", password=password,
                                           email_verified_at=utcnow()).id


def assert_invalid_id_token(response):
    assert response.status_int == 401
    assert response.content_type == "application/problem+json"
    assert response.json["type"] == INVALID_ID_TOKEN
    assert response.json["status"] == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


# --- the happy path ----------------------------------------------------------------------------------------------
def test_first_login_creates_a_verified_account_without_password(api, social_app, provider):
    response = social_login(api, provider.token(sub="g-1", email="ada@example.com", name="Ada Lovelace"))

    assert set(response.json) == TOKEN_FIELDS
    assert response.json["token_type"] == "Bearer"
    assert response.json["expires_in"] == social_app.config["ACCESS_TOKEN_TTL"]
    assert response.headers["Cache-Control"] == "no-store"
    body = me(api, response).json
    assert (body["email"], body["name"], body["email_verified"], body["roles"]) == \
        ("ada@example.com", "Ada Lovelace", True, ["user"])
    assert identities(social_app) == [("test", "g-1", body["id"])]
    assert events(social_app) == [
        ("user.registered", body["id"], {"method": "social:test", "roles": ["user"]}),
        ("social.linked", body["id"], {"provider": "test", "created": True}),
        ("login.succeeded", body["id"], {"method": "social:test", "acr": "aal1"}),
    ]
    assert _read(social_app, select(AuthSession.method)) == [("social:test",)]
    # No password: password login fails whatever is tried.
    for password in (DEFAULT_PASSWORD, "None", "x"):
        password_login(api, "ada@example.com", password, status=401)
    # The refresh token works like a password login's.
    refreshed = api.post_json("/api/v1/auth/refresh", {"refresh_token": response.json["refresh_token"]})
    assert set(refreshed.json) == TOKEN_FIELDS
    assert refreshed.headers["Cache-Control"] == "no-store"
    assert me(api, refreshed).json["id"] == body["id"]


def test_without_a_name_claim_the_account_is_named_after_the_email(api, provider):
    response = social_login(api, provider.token(email="grace@example.com", **without("name")))
    assert me(api, response).json["name"] == "grace"


def test_email_verified_as_the_string_true_is_accepted(api, provider):
    social_login(api, provider.token(email_verified="true"))


def test_second_login_of_the_same_subject_signs_into_the_same_account(api, social_app, provider):
    first = me(api, social_login(api, provider.token(sub="g-1"))).json["id"]
    # Even with another email at the provider now: the subject, not the email, identifies the account.
    second = me(api, social_login(api, provider.token(sub="g-1", email="ada@new.example.com"))).json

    assert second["id"] == first
    assert second["email"] == "ada@example.com"
    assert count(social_app, User) == 1
    assert len(identities(social_app)) == 1
    assert len(events(social_app, "social.linked")) == 1
    assert len(events(social_app, "login.succeeded")) == 2


# --- linking to existing accounts ------------------------------------------------------------------------------
def test_login_with_the_email_of_a_verified_account_links_to_it(api, social_app, provider):
    user_id = verified_user(social_app, "ada@example.com")
    password_session = password_login(api, "ada@example.com")

    response = social_login(api, provider.token(sub="g-1", email="Ada@Example.COM"))

    assert me(api, response).json["id"] == user_id
    assert count(social_app, User) == 1
    assert identities(social_app) == [("test", "g-1", user_id)]
    assert events(social_app, "social.linked") == [("social.linked", user_id, {"provider": "test", "created": False})]
    # A verified owner keeps their password and their sessions.
    password_login(api, "ada@example.com")
    me(api, password_session)


def test_unverified_account_is_taken_over_from_its_pre_registrant(api, social_app, provider):
    """Account pre-hijacking: someone registers the victim's address with a password, never verifies it, and waits.
    When the real owner signs in with the provider, the password and every session of the squatter must go."""
    registered = api.post_json("/api/v1/auth/register",
                               {"email": "victim@example.com", "name": "Squatter", "password": "squatter password"},
                               status=201).json
    squatter = password_login(api, "victim@example.com", "squatter password")

    response = social_login(api, provider.token(sub="victim", email="victim@example.com"))

    owner = me(api, response).json
    assert owner["id"] == registered["id"]
    assert owner["email_verified"] is True
    assert count(social_app, User) == 1
    password_login(api, "victim@example.com", "squatter password", status=401)
    me(api, squatter, status=401)
    api.post_json("/api/v1/auth/refresh", {"refresh_token": squatter.json["refresh_token"]}, status=401)
    assert events(social_app, "social.linked") == [
        ("social.linked", registered["id"], {"provider": "test", "created": False})]
    revoked = _read(social_app, select(AuthSession.method, AuthSession.revoke_reason).order_by(AuthSession.id))
    assert revoked == [("password", "social_link_unverified"), ("social:test", None)]


def test_another_subject_with_an_already_linked_email_is_refused(api, social_app, provider):
    """An address the provider reassigned to someone else (a new `sub`) must not open the old owner's account,
    which the provider already linked to another subject: 401, nothing linked, the failure recorded."""
    first = me(api, social_login(api, provider.token(sub="g-1", email="ada@example.com"))).json["id"]

    response = social_login(api, provider.token(sub="g-2", email="ada@example.com"), status=401)

    assert_invalid_id_token(response)
    assert count(social_app, User) == 1
    assert identities(social_app) == [("test", "g-1", first)]
    assert events(social_app, "login.failed") == [
        ("login.failed", first, {"method": "social:test", "reason": "linked to another subject"})]
    assert me(api, social_login(api, provider.token(sub="g-1", email="ada@example.com"))).json["id"] == first


def test_an_inactive_account_is_not_linked(api, social_app, provider, users):
    admin = users.admin()
    target = users.create(email="ada@example.com")
    api.patch_json(f"/api/v1/users/{target.id}", {"is_active": False}, headers=bearer(password_login(api, admin.email)))

    assert_invalid_id_token(social_login(api, provider.token(sub="g-1", email="ada@example.com"), status=401))

    assert identities(social_app) == []
    assert events(social_app, "login.failed")[-1][1] == target.id


def test_deactivated_account_cannot_sign_in(api, social_app, provider, users):
    user_id = me(api, social_login(api, provider.token(sub="g-1"))).json["id"]
    admin = users.admin()
    api.patch_json(f"/api/v1/users/{user_id}", {"is_active": False},
                   headers=bearer(password_login(api, admin.email)))
    sessions_before = count(social_app, AuthSession)

    response = social_login(api, provider.token(sub="g-1"), status=401)

    assert_invalid_id_token(response)
    assert count(social_app, AuthSession) == sessions_before
    failed = events(social_app, "login.failed")
    assert failed == [("login.failed", user_id, {"method": "social:test", "reason": "account inactive"})]


def test_deleted_account_is_not_signed_into_a_new_login_creates_one(api, social_app, provider, users):
    user_id = me(api, social_login(api, provider.token(sub="g-1"))).json["id"]
    admin = users.admin()
    api.delete(f"/api/v1/users/{user_id}", headers=bearer(password_login(api, admin.email)), status=204)
    assert identities(social_app) == []  # ON DELETE CASCADE

    new_id = me(api, social_login(api, provider.token(sub="g-1"))).json["id"]

    assert new_id != user_id
    assert identities(social_app) == [("test", "g-1", new_id)]


# --- rejected ID tokens ----------------------------------------------------------------------------------------
def _rogue_kid(provider):
    provider.add_key("rogue", serve=False)
    return provider.token(kid="rogue")


REJECTED = {
    "bad signature (other key, same kid)": lambda p: p.token(key=new_rsa_key()),
    "wrong audience": lambda p: p.token(aud="someone-else"),
    "audience list without us": lambda p: p.token(aud=["someone-else", "another"]),
    "wrong issuer": lambda p: p.token(iss="https://evil.example.test"),
    "expired beyond the leeway": lambda p: p.token(iat=int(time.time()) - 900, exp=int(time.time()) - 120),
    "issued in the future": lambda p: p.token(iat=int(time.time()) + 600, exp=int(time.time()) + 1200),
    "no iat": lambda p: p.token(**without("iat")),
    "no exp": lambda p: p.token(**without("exp")),
    "no sub": lambda p: p.token(**without("sub")),
    "sub too long": lambda p: p.token(sub="s" * 256),
    "email not verified": lambda p: p.token(email_verified=False),
    "email_verified the string false": lambda p: p.token(email_verified="false"),
    "no email_verified": lambda p: p.token(**without("email_verified")),
    "no email": lambda p: p.token(**without("email")),
    "unknown kid": _rogue_kid,
    "alg none": lambda p: p.unsigned_token("none"),
    "HS256 keyed with the public key": lambda p: p.unsigned_token("HS256", secret=p.public_pem()),
    "garbage": lambda p: "not-a-jwt",
}


@pytest.mark.parametrize("make_token", REJECTED.values(), ids=REJECTED.keys())
def test_rejected_id_token_answers_401_writes_no_user_and_audits_the_failure(api, social_app, provider,
                                                                               make_token):
    response = social_login(api, make_token(provider), status=401)

    assert_invalid_id_token(response)
    assert count(social_app, User) == 0
    assert count(social_app, SocialIdentity) == 0
    assert count(social_app, AuthSession) == 0
    [(type_, user_id, details)] = events(social_app)
    assert (type_, user_id, details["method"]) == ("login.failed", None, "social:test")
    assert details["reason"].startswith("The ID token was rejected")


def test_rejected_id_token_for_an_existing_account_leaves_it_alone(api, social_app, provider):
    user_id = verified_user(social_app, "ada@example.com")
    password_session = password_login(api, "ada@example.com")
    social_login(api, provider.token(email="ada@example.com", key=new_rsa_key()), status=401)
    assert identities(social_app) == []
    assert events(social_app, "login.failed") == [  # not attributed to the account the token names
        ("login.failed", None, {"method": "social:test", "reason": "The ID token was rejected: bad signature."})]
    assert me(api, password_session).json["id"] == user_id
    assert me(api, password_login(api, "ada@example.com")).json["id"] == user_id


def test_expiry_within_the_leeway_is_accepted(api, provider, social_app):
    assert social_app.config["OIDC_LEEWAY"] == 30
    social_login(api, provider.token(iat=int(time.time()) - 600, exp=int(time.time()) - 10))


# --- providers and configuration -------------------------------------------------------------------------------
def test_unknown_provider_answers_404_and_writes_nothing(api, social_app, provider):
    response = social_login(api, provider.token(), status=404, path="/api/v1/auth/social/nope")
    assert response.content_type == "application/problem+json"
    assert response.json["type"] == "urn:gatehouse:problem:provider-not-found"
    assert provider.requests == 0
    assert events(social_app) == []
    assert count(social_app, User) == 0


def test_oidc_providers_from_the_environment():
    assert oidc_providers({}) == {}
    google = oidc_providers({"GOOGLE_CLIENT_ID": "123.apps.googleusercontent.com"})["google"]
    assert "https://accounts.google.com" in google["issuers"]
    assert "accounts.google.com" in google["issuers"]
    assert google["client_id"] == "123.apps.googleusercontent.com"
    assert google["jwks_url"] == GOOGLE_JWKS_URL
    environ = {"OIDC_PROVIDERS": " Corp , azure-ad,", "OIDC_CORP_ISSUER": ISSUER, "OIDC_CORP_CLIENT_ID": "c1",
               "OIDC_CORP_JWKS_URL": "https://corp.example/jwks", "OIDC_AZURE_AD_ISSUER": "https://az.example",
               "OIDC_AZURE_AD_CLIENT_ID": "c2", "OIDC_AZURE_AD_JWKS_URL": "https://az.example/keys"}
    assert oidc_providers(environ) == {
        "corp": {"issuers": [ISSUER], "client_id": "c1", "jwks_url": "https://corp.example/jwks"},
        "azure-ad": {"issuers": ["https://az.example"], "client_id": "c2", "jwks_url": "https://az.example/keys"},
    }


@pytest.mark.parametrize(("environ", "message"), [
    ({"OIDC_PROVIDERS": "corp"}, "OIDC_CORP_ISSUER, OIDC_CORP_CLIENT_ID, OIDC_CORP_JWKS_URL"),
    ({"OIDC_PROVIDERS": "corp", "OIDC_CORP_ISSUER": ISSUER, "OIDC_CORP_CLIENT_ID": "c1"}, "OIDC_CORP_JWKS_URL"),
    ({"OIDC_PROVIDERS": "bad name"}, "not a valid provider name"),
    ({"OIDC_PROVIDERS": "x" * 33}, "not a valid provider name"),
])
def test_incomplete_provider_settings_are_refused(environ, message):
    with pytest.raises(ConfigurationError, match=message):
        oidc_providers(environ)
    with pytest.raises(ConfigurationError, match=message):
        TestConfig(environ=environ)  # the app refuses to start


def test_provider_configured_through_the_environment_signs_in(make_app, provider, monkeypatch):
    monkeypatch.setenv("OIDC_PROVIDERS", "corp")
    monkeypatch.setenv("OIDC_CORP_ISSUER", ISSUER)
    monkeypatch.setenv("OIDC_CORP_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("OIDC_CORP_JWKS_URL", provider.jwks_url)
    api = ApiClient(make_app())
    response = social_login(api, provider.token(), path="/api/v1/auth/social/corp")
    assert me(api, response).json["email"] == "ada@example.com"
    social_login(api, provider.token(), status=404)  # `test` is not configured in this app


# --- the JWKS endpoint -----------------------------------------------------------------------------------------
def assert_unavailable_and_nothing_written(response, app):
    assert response.status_int == 503
    assert response.content_type == "application/problem+json"
    assert response.json["type"] == "urn:gatehouse:problem:dependency-unavailable"
    assert int(response.headers["Retry-After"]) > 0
    for entity in (User, AuditEvent, AuthSession, SocialIdentity):
        assert count(app, entity) == 0, entity


def test_unreachable_jwks_answers_503_and_writes_nothing(make_app, provider):
    app = make_app(OIDC_PROVIDERS={"test": provider.settings(f"http://127.0.0.1:{closed_port()}/jwks")})
    response = social_login(ApiClient(app), provider.token(), status=503)
    assert_unavailable_and_nothing_written(response, app)


@pytest.mark.parametrize(("status", "body"), [
    (500, b'{"error": "internal"}'),
    (200, b"<html>maintenance</html>"),
    (200, b'{"keys": []}'),
])
def test_broken_jwks_answers_503_and_writes_nothing(api, social_app, provider, status, body):
    provider.status, provider.body = status, body
    response = social_login(api, provider.token(), status=503)
    assert_unavailable_and_nothing_written(response, social_app)


def test_jwks_is_fetched_once_and_cached(api, provider):
    social_login(api, provider.token(sub="a", email="a@example.com"))
    social_login(api, provider.token(sub="b", email="b@example.com"))
    social_login(api, provider.token(sub="a", email="a@example.com"))
    assert provider.requests == 1


class ShiftedClock:
    """Stands in for the `time` module inside jwt.jwks_client: monotonic time `offset` seconds ahead."""

    def __init__(self):
        self.offset = 0.0

    def monotonic(self):
        return time.monotonic() + self.offset


def test_unknown_kids_do_not_hammer_the_jwks_endpoint(api, provider, monkeypatch):
    """PyJWKClient refetches for an unknown kid at most once per cooldown (30 s after a fetch)."""
    clock = ShiftedClock()
    monkeypatch.setattr(jwt.jwks_client, "time", clock)
    social_login(api, provider.token())
    for n in range(5):
        provider.add_key(f"random-{n}", serve=False)
        social_login(api, provider.token(kid=f"random-{n}"), status=401)
    assert provider.requests == 1


def test_key_rotation_refetches_the_jwks(api, provider, monkeypatch):
    clock = ShiftedClock()
    monkeypatch.setattr(jwt.jwks_client, "time", clock)
    social_login(api, provider.token())
    assert provider.requests == 1

    provider.add_key("key-2")  # the provider now serves both keys and signs with the new one
    clock.offset = 31  # past PyJWKClient's refetch cooldown, well within the JWKS cache lifetime
    social_login(api, provider.token(kid="key-2"))
    assert provider.requests == 2

    social_login(api, provider.token(kid="key-1"))  # the old key is still in the refetched set
    social_login(api, provider.token(kid="key-2"))
    assert provider.requests == 2


@pytest.mark.parametrize("claims", [
    {"aud": ["gatehouse-test", "someone-else"]},                       # several audiences, no azp
    {"aud": ["gatehouse-test", "someone-else"], "azp": "someone-else"},  # several audiences, azp not us
    {"email": ""},
    {"email": "not-an-email"},
    {"email": "bóss@example.com"},                                     # registration refuses these too
])
def test_tokens_for_other_parties_or_with_unusable_emails_are_refused(api, social_app, provider, claims):
    response = social_login(api, provider.token(sub="g-9", **claims), status=401)
    assert_invalid_id_token(response)
    assert count(social_app, User) == 0


def test_several_audiences_are_accepted_when_we_are_the_authorized_party(api, social_app, provider):
    token = provider.token(sub="g-9", aud=["gatehouse-test", "someone-else"], azp="gatehouse-test")
    me(api, social_login(api, token))


def test_social_login_of_an_account_with_a_second_factor_asks_for_it(api, provider, social_app):
    first = social_login(api, provider.token(sub="g-7", email="mfa@example.com"))
    headers = bearer(first)
    secret = api.post_json("/api/v1/users/me/mfa/totp", {}, headers=headers).json["secret"]
    api.post_json("/api/v1/users/me/mfa/totp/confirm", {"code": pyotp.TOTP(secret).now()}, headers=headers)
    pending = social_login(api, provider.token(sub="g-7", email="mfa@example.com"), status=403).json
    assert pending["type"] == "urn:gatehouse:problem:mfa-required"
    assert "access_token" not in pending
    later = pyotp.TOTP(secret).at(time.time() + 30)  # the next step's code: the confirmation spent this one
    tokens = api.post_json("/api/v1/auth/mfa", {"mfa_token": pending["mfa_token"], "code": later}).json
    assert set(tokens) == TOKEN_FIELDS
    assert events(social_app, "login.succeeded")[-1][2] == {"method": "social:test", "acr": "aal2"}
