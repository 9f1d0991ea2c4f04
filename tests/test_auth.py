"""Registration, login and bearer tokens."""
import time

import pytest
import transaction
from argon2 import PasswordHasher
from itsdangerous import URLSafeTimedSerializer

from app.configs import OWASP_ARGON2
from app.dependencies import resolve
from app.entities import User
from app.extensions import db
from app.services.passwords import PasswordService
from app.services.tokens import ACCESS_TOKEN_SALT, AccessTokenService
from tests.support import DEFAULT_PASSWORD, ApiClient

USER_FIELDS = {"id", "email", "name", "roles", "is_active", "email_verified", "mfa_enabled", "sign_in_alerts",
               "created_at", "updated_at"}


def test_register_creates_an_active_user_with_the_user_role(client):
    response = client.post_json("/api/v1/auth/register",
                                {"email": "Ada@Example.COM", "name": "Ada", "password": DEFAULT_PASSWORD},
                                status=201)
    body = response.json
    assert set(body) == USER_FIELDS
    assert body["email"] == "ada@example.com"
    assert body["roles"] == ["user"]
    assert body["is_active"] is True
    assert response.headers["Location"].endswith(f"/api/v1/users/{body['id']}")
    assert body["created_at"].endswith("+00:00")


def test_register_rejects_an_email_taken_in_another_case(client, users):
    users.create(email="grace@example.com")
    response = client.post_json("/api/v1/auth/register",
                                {"email": "GRACE@example.com", "name": "G", "password": DEFAULT_PASSWORD},
                                status=409)
    assert response.content_type == "application/problem+json"
    assert response.json["type"].endswith("email-taken")


@pytest.mark.parametrize(("body", "field"), [
    ({"email": "not-an-email", "name": "A", "password": DEFAULT_PASSWORD}, "email"),
    ({"email": "a@example.com", "name": "", "password": DEFAULT_PASSWORD}, "name"),
    ({"email": "a@example.com", "name": "x" * 101, "password": DEFAULT_PASSWORD}, "name"),
    ({"email": "a@example.com", "name": "A", "password": "short"}, "password"),
    ({"email": "a@example.com", "name": "A", "password": "x" * 129}, "password"),
    ({"email": "a@example.com", "name": "A", "password": "A@Example.com"}, "password"),
    ({"email": ("x" * 250) + "@example.com", "name": "A", "password": DEFAULT_PASSWORD}, "email"),
    ({"name": "A", "password": DEFAULT_PASSWORD}, "email"),
    ({"email": "a@example.com", "name": "A", "password": DEFAULT_PASSWORD, "roles": ["admin"]}, "roles"),
])
def test_register_validation_table(client, users, body, field):
    response = client.post_json("/api/v1/auth/register", body, status=400)
    assert field in response.json["errors"]
    assert users.count() == 0


def test_password_of_128_characters_is_accepted(client):
    client.post_json("/api/v1/auth/register", {"email": "long@example.com", "name": "L", "password": "p" * 128},
                     status=201)


def test_login_answers_an_rfc6749_token_response(client, users, app):
    user = users.create()
    response = client.post_json("/api/v1/auth/login", {"email": user.email.upper(), "password": user.password})
    assert set(response.json) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert response.json["token_type"] == "Bearer"
    assert response.json["expires_in"] == app.config["ACCESS_TOKEN_TTL"] == 900
    assert response.headers["Cache-Control"] == "no-store"


def test_unknown_email_and_wrong_password_answer_the_same_401(client, users):
    user = users.create()
    wrong = client.post_json("/api/v1/auth/login", {"email": user.email, "password": "wrong password"}, status=401)
    unknown = client.post_json("/api/v1/auth/login", {"email": "nobody@example.com", "password": "whatever1"},
                               status=401)
    assert wrong.json == unknown.json
    assert wrong.json["type"].endswith("invalid-credentials")


def test_inactive_account_cannot_log_in(client, users):
    user = users.create(is_active=False)
    client.post_json("/api/v1/auth/login", {"email": user.email, "password": user.password}, status=401)


class CountingPasswords(PasswordService):
    """Records every password verification, to prove unknown emails cost one too."""

    verifications = 0

    def verify(self, password_hash, password):
        CountingPasswords.verifications += 1
        return super().verify(password_hash, password)

    def verify_dummy(self, password):
        CountingPasswords.verifications += 1
        return super().verify_dummy(password)


def test_login_with_unknown_email_still_verifies_a_hash(make_app):
    app = make_app(injector_modules=[lambda binder: binder.bind(PasswordService, to=CountingPasswords)])
    client = ApiClient(app)
    CountingPasswords.verifications = 0
    client.post_json("/api/v1/auth/login", {"email": "ghost@example.com", "password": "whatever1"}, status=401)
    assert CountingPasswords.verifications == 1


def test_login_rehashes_when_parameters_changed(make_app, users):
    app = make_app(**OWASP_ARGON2)  # production's parameters: the suite's default app hashes cheaply
    client = ApiClient(app)
    user = users.create()
    old_hash = PasswordHasher(time_cost=3, memory_cost=19456, parallelism=1).hash(user.password)
    with app.app_context(), transaction.manager:
        db.session.get(User, user.id).password_hash = old_hash
    client.post_json("/api/v1/auth/login", {"email": user.email, "password": user.password})
    new_hash = users.get(user.id).password_hash
    assert new_hash != old_hash
    assert "t=2" in new_hash
    with app.app_context():
        assert not resolve(PasswordService).needs_rehash(new_hash)


def test_bearer_token_gives_access_and_missing_token_a_bearer_challenge(client, auth):
    user, headers = auth.user()
    assert client.get("/api/v1/users/me", headers=headers).json["id"] == user.id
    response = client.get("/api/v1/users/me", status=401)
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="gatehouse"'
    assert response.content_type == "application/problem+json"


@pytest.mark.parametrize("mangle", [
    lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # tampered signature
    lambda t: "x" + t,                                               # tampered payload
    lambda t: "not-a-token",                                        # malformed
])
def test_tampered_or_malformed_tokens_are_rejected(client, auth, mangle):
    user, headers = auth.user()
    token = headers["Authorization"].split(" ", 1)[1]
    response = client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {mangle(token)}"}, status=401)
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def _token_signed_at(app, claims, issued_at):
    """A token made with the app's real key and salt, as if issued at `issued_at` (seconds since the epoch)."""
    class Backdated(URLSafeTimedSerializer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.signer = type("BackdatedSigner", (self.signer,), {"get_timestamp": lambda s: int(issued_at)})
    return Backdated(app.config["SECRET_KEY"], salt=ACCESS_TOKEN_SALT).dumps(claims)


def _session_of(app, token):
    with app.app_context():
        return resolve(AccessTokenService).claims(token).session_id


def test_expired_token_is_rejected(app, client, users, auth):
    user = users.create()
    claims = {"sub": user.id, "ver": user.token_version, "sid": _session_of(app, auth.token(user))}
    ttl = app.config["ACCESS_TOKEN_TTL"]
    fresh = _token_signed_at(app, claims, time.time() - ttl + 60)
    stale = _token_signed_at(app, claims, time.time() - ttl - 5)
    client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {fresh}"}, status=200)
    response = client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {stale}"}, status=401)
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_token_for_a_deleted_user_is_rejected(app, client, users):
    token = _token_signed_at(app, {"sub": 987654, "ver": 0, "sid": 1}, time.time())
    client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"}, status=401)


def test_token_signed_with_another_key_is_rejected(app, client, users):
    user = users.create()
    claims = {"sub": user.id, "ver": user.token_version}
    forged = URLSafeTimedSerializer("another-key", salt=ACCESS_TOKEN_SALT).dumps(claims)
    client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {forged}"}, status=401)


def test_wrong_scheme_is_a_missing_token(client, auth):
    user, headers = auth.user()
    token = headers["Authorization"].split(" ", 1)[1]
    response = client.get("/api/v1/users/me", headers={"Authorization": f"Basic {token}"}, status=401)
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="gatehouse"'
