"""Scale-out: two gunicorn instances of Gatehouse over one private MariaDB, rate-limit counters in one Redis, nginx
in front with the repo's config (upstream = both instances).

Proves that an instance keeps no state of its own: a token issued by one is accepted by the other, a logout through
one is honoured by the other, rate limits count attempts made on either together, concurrent registrations through
the proxy neither lose nor duplicate a row, and the request id travels through nginx to the app and back.
"""
import collections
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.system.clients import bearer, call, is_problem, login, register

pytestmark = pytest.mark.timeout(240)

ACCOUNT_LIMIT = 3  # per account and minute: small, to see the shared count reach it


@pytest.fixture(scope="module")
def stack(make_module_stack):
    """Per-address limits raised (every client here is 127.0.0.1, and 200 registrations come from it); the
    per-account limit small."""
    return make_module_stack(instances=2, workers=2, RATELIMIT_PER_ADDRESS="100000/minute",
                             RATELIMIT_PER_ACCOUNT=f"{ACCOUNT_LIMIT}/minute")


def new_email(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:12]}@example.com"


def test_a_token_issued_by_one_instance_works_on_the_other(stack):
    a, b = stack.instances
    email = new_email("cross")
    assert register(a.url, email).status == 201
    tokens = login(a.url, email).response.json()
    for base in (b.url, a.url, stack.url):
        me = call("GET", f"{base}/api/v1/users/me", headers=bearer(tokens["access_token"]))
        assert me.status == 200, (base, me)
        assert me.response.json()["email"] == email
    # the refresh token issued through A is spent on B, and its successor works through the proxy
    refreshed = call("POST", f"{b.url}/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status == 200, refreshed.response.text
    again = call("POST", f"{stack.url}/api/v1/auth/refresh",
                 json={"refresh_token": refreshed.response.json()["refresh_token"]})
    assert again.status == 200


def test_a_logout_through_one_instance_is_honoured_by_the_other(stack):
    a, b = stack.instances
    email = new_email("logout")
    assert register(b.url, email).status == 201
    token = login(b.url, email).response.json()["access_token"]
    assert call("GET", f"{a.url}/api/v1/users/me", headers=bearer(token)).status == 200
    assert call("POST", f"{a.url}/api/v1/auth/logout", headers=bearer(token)).status == 204
    for base in (b.url, a.url, stack.url):
        me = call("GET", f"{base}/api/v1/users/me", headers=bearer(token))
        assert is_problem(me, 401), (base, me)


def test_rate_limits_are_shared_by_the_instances(stack):
    """Failed logins for one account, alternating A, B, A: the next attempt, on either instance, is refused."""
    a, b = stack.instances
    email = new_email("limited")
    assert register(stack.url, email).status == 201
    bases = [a.url, b.url] * ACCOUNT_LIMIT
    statuses = [login(base, email, password="a wrong passphrase").status for base in bases[:ACCOUNT_LIMIT]]
    assert statuses == [401] * ACCOUNT_LIMIT  # neither instance alone has seen ACCOUNT_LIMIT failures
    for base in (bases[ACCOUNT_LIMIT], a.url, b.url, stack.url):
        refused = login(base, email, password="a wrong passphrase")
        assert is_problem(refused, 429), (base, refused)
        assert int(refused.response.headers["Retry-After"]) > 0
    assert stack.redis.client().dbsize() > 0  # the counters live in the shared Redis


def test_concurrent_registration_through_the_proxy_loses_and_duplicates_nothing(stack, figures):
    """200 registrations from 20 threads through nginx; 50 of the 150 addresses are registered twice, the second
    time in other letter case (emails are unique case-insensitively), submitted next to each other to race."""
    run = uuid.uuid4().hex[:8]
    unique = [f"conc{i}-{run}@example.com" for i in range(150)]
    attempts = []
    for i, email in enumerate(unique):
        attempts.append(email)
        if i < 50:
            attempts.append(email.upper().replace("@EXAMPLE.COM", "@Example.com"))
    assert len(attempts) == 200

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(lambda email: register(stack.url, email), attempts))

    by_status = collections.Counter(r.status for r in results)
    figures.add("scale-out", f"200 concurrent registrations through nginx: {dict(by_status)}, "
                             f"slowest {max(r.seconds for r in results):.2f} s")
    assert set(by_status) <= {201, 409}, [r for r in results if r.status not in (201, 409)][:5]
    created = collections.defaultdict(list)  # normalized email -> ids answered 201
    for result in results:
        if result.status == 201:
            created[result.payload.lower()].append(result.response.json()["id"])
    assert all(len(ids) == 1 for ids in created.values()), "an email was registered twice"
    assert set(created) == set(unique), "an address got no 201 at all"
    for result in results:
        if result.status == 409:
            assert is_problem(result, 409), result
            assert result.payload.lower() in created  # a real duplicate

    rows = stack.query("SELECT u.id, u.email, (SELECT COUNT(*) FROM user_roles r WHERE r.user_id = u.id) AS grants "
                       "FROM users u WHERE u.email LIKE :pattern", pattern=f"conc%-{run}@example.com")
    assert len(rows) == by_status[201] == 150
    assert {row.email: row.id for row in rows} == {email: ids[0] for email, ids in created.items()}
    assert all(row.grants == 1 for row in rows)


def test_the_request_id_passes_through_nginx_and_is_echoed(stack):
    request_id = f"system-test-{uuid.uuid4().hex}"
    for path in ("/health", "/api/v1/users/me"):
        result = call("GET", f"{stack.url}{path}", headers={"X-Request-ID": request_id})
        assert result.response.headers.get("X-Request-ID") == request_id, (path, dict(result.response.headers))
    generated = call("GET", f"{stack.url}/health")
    assert generated.response.headers.get("X-Request-ID"), "no request id generated for a request without one"
    # it reached an application instance (their request logs name it), not only nginx
    assert any(request_id in instance.log.read_text(errors="replace") for instance in stack.instances), \
        "the request id is not in any instance's log"
