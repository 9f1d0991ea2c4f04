"""Flask-Limiter limits on the endpoints that take credentials or send mail: per client address, per account,
429 problems with Retry-After, no processing of refused requests, and (with Redis) counters shared by instances."""
import os

import pytest
from sqlalchemy import func, select

from app.entities import AuditEvent
from app.extensions import db
from tests.support import DEFAULT_PASSWORD, ApiClient

REDIS_URL = os.environ.get("TEST_REDIS_URL", "")
LOGIN = "/api/v1/auth/login"


def limited_client(make_app, address="20/minute", account="100/minute", **overrides):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_PER_ADDRESS=address, RATELIMIT_PER_ACCOUNT=account, **overrides)
    return app, ApiClient(app)


def from_address(address):
    return {"extra_environ": {"REMOTE_ADDR": address}}


def count_events(app, event_type):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.type == event_type))


def assert_rate_limited(response):
    assert response.status_code == 429
    assert response.content_type == "application/problem+json"
    assert response.json["type"] == "urn:gatehouse:problem:rate-limited"
    assert 1 <= int(response.headers["Retry-After"]) <= 60


def test_login_is_limited_per_client_address_and_refused_requests_are_not_processed(make_app, users):
    app, client = limited_client(make_app, address="3/minute")
    for n in range(3):
        client.post_json(LOGIN, {"email": f"nobody{n}@example.com", "password": "wrong password"}, status=401)
    assert_rate_limited(client.post_json(LOGIN, {"email": "nobody9@example.com", "password": "x"}, status=429))
    assert count_events(app, "login.failed") == 3  # the refused attempt never reached the service
    # Another address has its own bucket.
    client.post_json(LOGIN, {"email": "nobody@example.com", "password": "x"}, status=401, **from_address("10.0.0.9"))


def test_login_per_account_counts_failures_only_and_follows_the_account_across_addresses(make_app, users):
    _app, client = limited_client(make_app, account="2/minute")
    user = users.create()
    for _ in range(3):  # successful sign-ins never use up the account's allowance
        client.post_json(LOGIN, {"email": user.email, "password": DEFAULT_PASSWORD}, status=200)
    for n in range(2):
        client.post_json(LOGIN, {"email": user.email, "password": "wrong password"}, status=401,
                         **from_address(f"10.0.1.{n}"))
    assert_rate_limited(client.post_json(LOGIN, {"email": user.email.upper(), "password": DEFAULT_PASSWORD},
                                         status=429, **from_address("10.0.1.99")))
    other = users.create()
    client.post_json(LOGIN, {"email": other.email, "password": DEFAULT_PASSWORD}, status=200)


def test_register_and_password_reset_are_limited_per_email(make_app, users):
    _app, client = limited_client(make_app, account="2/minute")
    body = {"email": "Repeat@example.com", "name": "R", "password": "long enough password"}
    client.post_json("/api/v1/auth/register", body, status=201)
    client.post_json("/api/v1/auth/register", body, status=409)
    assert_rate_limited(client.post_json("/api/v1/auth/register", {**body, "email": "repeat@example.com"},
                                         status=429))
    for _ in range(2):
        client.post_json("/api/v1/auth/password-reset", {"email": "victim@example.com"}, status=202)
    assert_rate_limited(client.post_json("/api/v1/auth/password-reset", {"email": "victim@example.com"}, status=429))
    client.post_json("/api/v1/auth/password-reset", {"email": "someone-else@example.com"}, status=202)


@pytest.mark.parametrize(("path", "body", "status"), [
    ("/api/v1/auth/refresh", {"refresh_token": "not-a-token"}, 401),
    ("/api/v1/auth/social/nosuchprovider", {"id_token": "x.y.z"}, 404),
    ("/api/v1/auth/verify-email", {"token": "not-a-token"}, 400),
    ("/api/v1/auth/password-reset/confirm", {"token": "not-a-token", "new_password": "long enough password"}, 400),
])
def test_token_endpoints_are_limited_per_client_address(make_app, path, body, status):
    _app, client = limited_client(make_app, address="2/minute")
    for _ in range(2):
        client.post_json(path, body, status=status)
    assert_rate_limited(client.post_json(path, body, status=429))


def test_limits_are_per_app_and_off_when_disabled(make_app, users, client):
    _app, limited = limited_client(make_app, address="1/minute")
    limited.post_json(LOGIN, {"email": "a@example.com", "password": "x"}, status=401)
    limited.post_json(LOGIN, {"email": "a@example.com", "password": "x"}, status=429)
    for _ in range(3):  # the default test app (RATELIMIT_ENABLED false) shares nothing with the other
        client.post_json(LOGIN, {"email": "a@example.com", "password": "x"}, status=401)


def test_limits_are_documented_in_the_openapi_document(client):
    operations = client.get("/swagger/").json["paths"]
    for path in ("/api/v1/auth/login", "/api/v1/auth/register", "/api/v1/auth/refresh",
                 "/api/v1/auth/password-reset", "/api/v1/auth/social/{provider}"):
        assert "429" in operations[path]["post"]["responses"], path


@pytest.mark.skipif(not REDIS_URL, reason="set TEST_REDIS_URL (redis://127.0.0.1:6379/0) to test shared limits")
def test_redis_storage_shares_limits_between_instances(make_app):
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    _first_app, first = limited_client(make_app, address="2/minute", RATELIMIT_STORAGE_URI=REDIS_URL)
    _second_app, second = limited_client(make_app, address="2/minute", RATELIMIT_STORAGE_URI=REDIS_URL)
    first.post_json(LOGIN, {"email": "a@example.com", "password": "x"}, status=401)
    second.post_json(LOGIN, {"email": "b@example.com", "password": "x"}, status=401)
    assert_rate_limited(first.post_json(LOGIN, {"email": "c@example.com", "password": "x"}, status=429))
    assert_rate_limited(second.post_json(LOGIN, {"email": "d@example.com", "password": "x"}, status=429))


def test_current_password_guesses_are_limited_per_account(make_app, users):
    from tests.support import UserFactory
    app, client = limited_client(make_app, account="2/minute")
    user = UserFactory(app).create()
    token = client.post_json(LOGIN, {"email": user.email, "password": DEFAULT_PASSWORD}).json["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    client.patch_json("/api/v1/users/me", {"name": "Renamed"}, headers=headers)  # successes do not count
    for _ in range(2):
        client.patch_json("/api/v1/users/me", {"password": "a new long password", "current_password": "guess"},
                          headers=headers, status=403)
    assert_rate_limited(client.patch_json("/api/v1/users/me", {"password": "a new long password",
                                                                "current_password": DEFAULT_PASSWORD},
                                          headers=headers, status=429))
    assert count_events(app, "login.failed") == 2  # each wrong guess is audited like a failed login


def test_refused_attempts_do_not_prolong_the_refusal(make_app, users):
    _app, client = limited_client(make_app, account="2/minute")
    user = users.create()
    for _ in range(2):
        client.post_json(LOGIN, {"email": user.email, "password": "wrong password"}, status=401)
    for _ in range(3):
        client.post_json(LOGIN, {"email": user.email, "password": "wrong password"}, status=429)


@pytest.mark.parametrize("body", [
    {"email": "\ud800@example.com", "password": "x"},
    {"email": "a@example.com", "password": "x", "deep": [[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]},
])
def test_odd_bodies_reach_validation_not_a_500(make_app, body):
    _app, client = limited_client(make_app)
    response = client.post_json(LOGIN, body, expect_errors=True)
    assert response.status_code in (400, 401)


def test_deeply_nested_json_is_a_400_with_limits_on(make_app):
    _app, client = limited_client(make_app)
    raw = '{"email": "a@example.com", "password": "x", "z": ' + "[" * 5000 + "]" * 5000 + "}"
    response = client.post(LOGIN, raw, content_type="application/json", expect_errors=True)
    assert response.status_code == 400


def test_an_unreachable_limit_storage_falls_back_to_memory(make_app, users):
    _app, client = limited_client(make_app, address="2/minute", RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/0")
    for _ in range(2):
        client.post_json(LOGIN, {"email": "a@example.com", "password": "x"}, status=401)
    assert_rate_limited(client.post_json(LOGIN, {"email": "a@example.com", "password": "x"}, status=429))


def test_behind_a_proxy_limits_and_audit_use_the_forwarded_client_address(make_app, users):
    app, client = limited_client(make_app, address="2/minute", PROXY_HOPS=1)
    proxy = {"REMOTE_ADDR": "172.18.0.1"}
    for _ in range(2):
        client.post_json(LOGIN, {"email": "a@example.com", "password": "x"}, status=401, extra_environ=proxy,
                         headers={"X-Forwarded-For": "198.51.100.66"})
    client.post_json(LOGIN, {"email": "a@example.com", "password": "x"}, status=429, extra_environ=proxy,
                     headers={"X-Forwarded-For": "198.51.100.66"})
    # Another client through the same proxy is not affected by the first one's attempts.
    client.post_json(LOGIN, {"email": "a@example.com", "password": "x"}, status=401, extra_environ=proxy,
                     headers={"X-Forwarded-For": "203.0.113.5"})
    with app.app_context():
        addresses = set(db.session.scalars(select(AuditEvent.ip_address)))
    assert addresses == {"198.51.100.66", "203.0.113.5"}
