"""The operator's path, end to end, on a real container engine: what README.md's docker-compose section says, done.

The tests run in file order on one stack (tests/compose/conftest.py): each step starts from where the previous one
left it. Bounded everywhere: every wait names its limit.
"""
import re
import secrets
import threading
import time

import pytest

from tests.compose.stack import ADMIN_EMAIL, ADMIN_PASSWORD, wait_until

READY_LIMIT = 120  # seconds from `docker-compose up -d` to /ready through the proxy (the bound)
LONG_RUNNING = ("db", "app", "proxy", "mailer", "redis", "mailpit")
USER_EMAIL = "operator-check@example.com"
USER_PASSWORD = "a passphrase for the check"  # noqa: S105
CORS_ORIGIN = "https://app.example.com"
# `docker-compose stop` (SIGTERM, then SIGKILL after the grace period): docker-compose.yml's stop_grace_period per
# service, 10 s where it sets none.
OURS = ("app", "mailer")  # our processes: a clean exit (0) on SIGTERM, the others' images decide their own codes
GRACE = {"proxy": 10, "app": 40, "mailer": 30, "mailpit": 10, "redis": 10, "db": 60}


def _ready(stack):
    return stack.request("GET", "/ready").status_code == 200


def _healthy(stack, services):
    """True when every container of every service in `services` reports healthy."""
    states = {c.name: stack.health(c) for s in services for c in stack.containers(s)}
    return bool(states) and all(state == "healthy" for state in states.values())


def test_build_and_up_serves_through_the_proxy_within_the_limit(stack, figures):
    started = time.monotonic()
    stack.compose("build", timeout=900)
    built = time.monotonic()
    stack.compose("up", "-d", timeout=600)
    wait_until(lambda: _ready(stack), READY_LIMIT - (time.monotonic() - built), "/ready through the proxy")
    ready = time.monotonic()
    figures(f"build {built - started:.1f} s; `up -d` to /ready through the proxy {ready - built:.1f} s "
            f"(limit {READY_LIMIT} s)")
    figures(f"app image {stack.image_size() / 1e6:.0f} MB")
    assert ready - built <= READY_LIMIT


def test_every_long_running_service_reports_healthy_and_migrate_exited_0(stack, figures):
    started = time.monotonic()
    wait_until(lambda: _healthy(stack, LONG_RUNNING), 120, "every long-running service healthy", interval=2)
    figures(f"all of {', '.join(LONG_RUNNING)} healthy {time.monotonic() - started:.1f} s after /ready")
    [migrate] = stack.containers("migrate")
    migrate.reload()
    assert migrate.attrs["State"]["Status"] == "exited"
    assert migrate.attrs["State"]["ExitCode"] == 0
    assert stack.health(migrate) is None  # no inherited HTTP health check on a one-off


def test_the_app_runs_as_a_non_root_user_without_the_database_root_password(stack):
    for service in ("app", "mailer"):
        for container in stack.containers(service):
            uid = container.exec_run(["id", "-u"]).output.decode().strip()
            assert uid.isdigit()
            assert int(uid) != 0, f"{container.name} runs as root"
            environment = dict(item.split("=", 1) for item in container.attrs["Config"]["Env"])
            assert environment.get("MYSQL_ROOT_PASSWORD", "") == ""
            assert environment.get("FIRST_ADMIN_PASSWORD", "") == ""
            assert environment["SECRET_KEY"] not in ("", "change-me")  # .env reached the app


def test_register_then_the_mailed_token_verifies_the_email_then_login_and_me(stack, figures):
    registered = stack.request("POST", "/api/v1/auth/register",
                               json={"email": USER_EMAIL, "name": "Operator Check", "password": USER_PASSWORD})
    assert registered.status_code == 201, registered.text
    sent = time.monotonic()
    text = stack.mail_to(USER_EMAIL, timeout=60)
    figures(f"verification mail in Mailpit {time.monotonic() - sent:.1f} s after registering (mailer loop: 5 s)")
    token = re.search(r"^Token: (\S+)$", text, re.M).group(1)
    verified = stack.request("POST", "/api/v1/auth/verify-email", json={"token": token})
    assert verified.status_code == 204, verified.text

    access = stack.login(USER_EMAIL, USER_PASSWORD)
    me = stack.request("GET", "/api/v1/users/me", token=access)
    assert me.status_code == 200, me.text
    assert me.json()["email"] == USER_EMAIL
    assert me.json()["email_verified"] is True


def test_the_first_admin_from_the_settings_logs_in_and_must_enrol_a_second_factor(stack):
    access = stack.login(ADMIN_EMAIL, ADMIN_PASSWORD)
    me = stack.request("GET", "/api/v1/users/me", token=access).json()
    assert "admin" in me["roles"]
    assert me["mfa_enabled"] is False
    # Production's REQUIRE_MFA_FOR_ADMINS: an admin without a second factor can only enrol one.
    refused = stack.request("GET", "/api/v1/audit-events", token=access)
    assert refused.status_code == 403, refused.text
    assert refused.json()["type"] == "urn:gatehouse:problem:mfa-enrolment-required"
    assert stack.request("GET", "/api/v1/audit-events", token=stack.admin_token(ADMIN_EMAIL, ADMIN_PASSWORD)) \
        .status_code == 200


def test_scaled_to_three_replicas_requests_reach_all_three(stack, figures):
    stack.compose("up", "-d", "--scale", "app=3")
    wait_until(lambda: len(stack.containers("app")) == 3 and _healthy(stack, ["app"]), 120, "3 healthy app replicas",
               interval=2)
    started = time.monotonic()
    request_ids = set()

    def replicas_that_answered():
        for _ in range(30):
            request_id = f"scale-{secrets.token_hex(8)}"
            request_ids.add(request_id)
            assert stack.request("GET", "/health", headers={"X-Request-ID": request_id}).status_code == 200
        # Each replica writes one JSON access line per request, with the request id: which containers saw ours?
        seen = {name for name, lines in stack.logs("app").items()
                if any(f'"request_id": "{rid}"' in line for line in lines for rid in request_ids)}
        return seen if len(seen) == 3 else None

    seen = wait_until(replicas_that_answered, 60, "requests reaching all 3 replicas", interval=1)
    figures(f"--scale app=3: all 3 replicas answered through the proxy {time.monotonic() - started:.1f} s after they "
            f"were healthy, {len(request_ids)} requests, no proxy restart")
    assert len(seen) == 3


def test_a_setting_changed_in_env_reaches_recreated_app_containers_and_the_proxy_follows(stack, figures):
    [proxy] = stack.containers("proxy")
    proxy_started = proxy.attrs["State"]["StartedAt"]
    old_apps = {c.id for c in stack.containers("app")}
    stack.set_setting(CORS_ORIGINS=CORS_ORIGIN)
    recreated = time.monotonic()
    stack.compose("up", "-d")  # as the README says after editing .env: recreates what changed (and scales back to 1)

    def cors_answered():
        # CORS covers /api/*: a 401 from the app (no token) carries it too; nginx's own 502 would not.
        response = stack.request("GET", "/api/v1/users/me", headers={"Origin": CORS_ORIGIN})
        return response.status_code == 401 and response.headers.get("Access-Control-Allow-Origin") == CORS_ORIGIN

    wait_until(cors_answered, 60, "the recreated app answering through the proxy with the new setting", interval=0.5)
    figures(f"`up -d` after editing .env: the proxy answered with the recreated app "
            f"{time.monotonic() - recreated:.1f} s after the command started")
    assert not old_apps & {c.id for c in stack.containers("app")}, "the app containers were not recreated"
    proxy.reload()
    assert proxy.attrs["State"]["StartedAt"] == proxy_started, "proxy was restarted"


def test_a_database_restart_under_load_loses_no_acknowledged_write(stack, figures):
    admin = stack.admin_token(ADMIN_EMAIL, ADMIN_PASSWORD)
    created, statuses, stop = [], [], threading.Event()
    lock = threading.Lock()

    def create_users(worker):
        n = 0
        while not stop.is_set() and n < 500:
            n += 1
            body = {"email": f"restart-{worker}-{n}@example.com", "name": f"Restart {worker} {n}"}
            try:
                response = stack.request("POST", "/api/v1/users", token=admin, json=body)
                status = response.status_code
            except Exception as error:  # noqa: BLE001 - a broken connection is an outcome to count, not a crash
                status = type(error).__name__
            with lock:
                statuses.append(status)
                if status == 201:
                    created.append(response.headers["Location"])
            time.sleep(0.05)

    threads = [threading.Thread(target=create_users, args=(w,)) for w in range(2)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(2)
        restart_started = time.monotonic()
        stack.compose("restart", "db", timeout=180)
        wait_until(lambda: _healthy(stack, ["db"]) and _ready(stack), 120, "db healthy and /ready again", interval=1)
        back = time.monotonic()
        time.sleep(3)
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)

    counts = {s: statuses.count(s) for s in set(statuses)}
    figures(f"`restart db` under load: {len(statuses)} admin user creations, statuses {counts}; service ready again "
            f"{back - restart_started:.1f} s after the restart began")
    assert counts.get(201, 0) > 0
    assert not [s for s in statuses if isinstance(s, int) and s >= 500 and s != 503], counts
    missing = [location for location in created
               if stack.request("GET", location, token=admin).status_code != 200]
    figures(f"`restart db`: {len(created)} acknowledged writes, {len(missing)} missing afterwards")
    assert not missing


def test_down_then_up_keeps_the_data_in_the_named_volume(stack, figures):
    stack.compose("down", timeout=300)
    started = time.monotonic()
    stack.compose("up", "-d", timeout=600)
    wait_until(lambda: _ready(stack), READY_LIMIT, "/ready after down and up")
    figures(f"`down` then `up -d`: /ready {time.monotonic() - started:.1f} s after up")
    access = stack.login(USER_EMAIL, USER_PASSWORD)
    me = stack.request("GET", "/api/v1/users/me", token=access).json()
    assert me["email_verified"] is True


@pytest.mark.parametrize("service", ["proxy", "app", "mailer", "mailpit", "redis", "db"])
def test_stop_ends_every_container_on_sigterm_within_its_grace_period(stack, figures, service):
    containers = stack.containers(service)
    assert containers
    for container in containers:
        container.reload()
        assert container.status == "running", f"{container.name} is {container.status}"
    started = time.monotonic()
    stack.compose("stop", service, timeout=GRACE[service] + 60)
    took = time.monotonic() - started
    for container in containers:
        container.reload()
        state = container.attrs["State"]
        figures(f"stop {service}: {took:.1f} s (grace {GRACE[service]} s), {container.name} exit code "
                f"{state['ExitCode']}")
        assert state["ExitCode"] != 137, f"{container.name} was killed (SIGKILL) after its grace period"
        if service in OURS:
            assert state["ExitCode"] == 0, f"{container.name} did not end cleanly on SIGTERM"
    assert took < GRACE[service], f"{service} took {took:.1f} s to stop (grace {GRACE[service]} s)"

