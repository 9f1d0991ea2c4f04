"""The other serving path: Gatehouse under uWSGI (deploy/uwsgi/uwsgi.ini and hooks.py) on a unix socket, behind nginx
with deploy/nginx/gatehouse-uwsgi.conf, over the private MariaDB: one instance of 2 workers, DRAIN_SECONDS=3.

Proves that it behaves as the gunicorn path does: register, log in and read /users/me through nginx; the forwarded
headers are nginx's, not the client's; every log line is JSON (uWSGI's own messages encoded, the app's passed as
they are); /metrics adds up the counters of every worker (Prometheus multiprocess mode), and a worker killed with
SIGKILL has its live gauges dropped by its replacement; SIGHUP reloads every worker under traffic without a failed
request; SIGTERM drains (/ready 503 while everything else is served), then stops cleanly. The tests run in file
order on one stack: the last one stops it.
"""
import collections
import json
import os
import re
import secrets
import signal
import subprocess
import threading
import time
import uuid

import pytest
from prometheus_client.mmap_dict import MmapedDict

from tests.system.clients import bearer, call, is_problem, login, register
from tests.system.servers import REPO, UwsgiInstance, app_environment, wait_until
from tests.system.traffic import Traffic

pytestmark = pytest.mark.timeout(240)

WORKERS = 2
DRAIN_SECONDS = 3
METRICS_TOKEN = secrets.token_urlsafe(24)
REQUESTS_TOTAL = re.compile(r'^gatehouse_http_requests_total\{method="GET",route="/health",status="200"\} (\S+)$',
                            re.M)


@pytest.fixture(scope="module")
def stack(make_module_stack):
    return make_module_stack(server="uwsgi", instances=1, workers=WORKERS, redis=False,
                             DRAIN_SECONDS=DRAIN_SECONDS, METRICS_BEARER_TOKEN=METRICS_TOKEN,
                             RATELIMIT_PER_ADDRESS="100000/minute", RATELIMIT_PER_ACCOUNT="100000/minute")


@pytest.fixture(scope="module")
def account(stack):
    """An account registered and logged in through nginx: (email, access token)."""
    email = f"uwsgi-{uuid.uuid4().hex[:12]}@example.com"
    assert register(stack.url, email).status == 201
    return email, login(stack.url, email).response.json()["access_token"]


def log_lines(instance):
    return instance.log.read_text(errors="replace").splitlines()


def app_access_lines(instance):
    """The app's access lines (logger gatehouse.access) in the instance's log, parsed."""
    return [json.loads(line) for line in log_lines(instance) if '"logger": "gatehouse.access"' in line]


def metrics(instance):
    """/metrics asked over the uwsgi socket, as Prometheus would on the VM, with the bearer token from an address
    outside METRICS_ALLOWED_NETWORKS (so the token is what lets it in)."""
    status, _headers, body = instance.request("GET", "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"},
                                              remote_addr="192.0.2.10")
    assert status == 200
    return body.decode()


def health_count(instance):
    """gatehouse_http_requests_total for GET /health 200, as /metrics reports it (all workers added up)."""
    found = REQUESTS_TOTAL.search(metrics(instance))
    return float(found.group(1)) if found else 0.0


def health_count_per_process(instance):
    """The same counter read from each process's own multiprocess file: {pid: count}."""
    counts = {}
    for path in instance.metrics_dir.glob("counter_*.db"):
        pid = int(path.stem.split("_")[1])
        for key, value, _timestamp, _pos in MmapedDict.read_all_values_from_file(str(path)):
            name, _sample, labels, _help = json.loads(key)
            if name == "gatehouse_http_requests" and labels == {"method": "GET", "route": "/health", "status": "200"}:
                counts[pid] = value
    return counts


@pytest.mark.parametrize(("name", "value", "reason"), [
    ("GUNICORN_WORKER_CLASS", "gthread", "the uWSGI path runs sync workers only"),
    ("DRAIN_SECONDS", "40", "GUNICORN_GRACEFUL_TIMEOUT (30 s) must exceed DRAIN_SECONDS (40.0 s)"),
    ("WEB_CONCURRENCY", "", "workers is unset but WEB_CONCURRENCY gives"),  # uWSGI takes "" as set; gunicorn not
])
def test_uwsgi_refuses_settings_gunicorn_would_not_run_with(tmp_path, name, value, reason):
    """hooks.py compares what uWSGI parsed from uwsgi.ini with gunicorn.conf.py's settings for the same environment:
    the master exits 1 before any worker starts, with a JSON log line naming the setting."""
    instance = UwsgiInstance(tmp_path, "refused", app_environment("sqlite://", None, tmp_path))
    args, env = instance.command()
    try:
        done = subprocess.run(args, env={**env, name: value}, cwd=REPO, capture_output=True, text=True,  # noqa: S603
                              timeout=60, stdin=subprocess.DEVNULL)
    finally:
        instance.stop()
    assert done.returncode == 1, done.stdout[-2000:]
    messages = [json.loads(line)["message"] for line in done.stdout.splitlines() if line.startswith("{")]
    assert any(message.startswith("gatehouse: ") and reason in message for message in messages), messages[-5:]
    assert not any("spawned uWSGI worker" in message for message in messages)


def test_register_login_and_me_through_nginx_and_uwsgi(stack, account):
    email, token = account
    request_id = f"uwsgi-test-{uuid.uuid4().hex}"
    me = call("GET", f"{stack.url}/api/v1/users/me", headers={
        **bearer(token), "X-Request-ID": request_id,
        # forwarding headers a client made up: nginx overwrites or drops them (uwsgi_param HTTP_*)
        "X-Forwarded-For": "203.0.113.7", "Forwarded": "for=203.0.113.8", "X-Real-IP": "203.0.113.9"})
    assert me.status == 200, me.response.text
    assert me.response.json()["email"] == email
    assert me.response.headers["X-Request-ID"] == request_id
    # written by uWSGI's log master a moment after the response, and by nginx once it is sent
    [line] = wait_until(lambda: [entry for entry in app_access_lines(stack.instances[0])
                                 if entry.get("request_id") == request_id], 5, "the app's access line")
    assert line["route"] == "/api/v1/users/me"
    assert line["status"] == 200
    assert line["remote_addr"] == "127.0.0.1"  # nginx's view of the client, not the forged headers
    [logged] = wait_until(lambda: [json.loads(entry) for entry in stack.nginx.access_log.read_text().splitlines()
                                   if request_id in entry], 5, "nginx's access line")
    assert logged["upstream_addr"] == stack.instances[0].upstream
    assert logged["status"] == 200
    # the public site refuses /metrics with nginx's problem document
    refused = call("GET", f"{stack.url}/metrics")
    assert is_problem(refused, 403)


def test_every_log_line_is_json(stack, account):
    lines = log_lines(stack.instances[0])
    first_json = next(i for i, line in enumerate(lines) if line.startswith("{"))
    # printed while uWSGI reads its configuration, before its log master (which encodes the rest) exists
    assert all(line.startswith(("[uWSGI] getting INI", "[log-encoder] registered")) for line in lines[:first_json])
    assert first_json <= 3
    entries = [json.loads(line) for line in lines[first_json:]]
    assert all(isinstance(entry, dict) for entry in entries)
    uwsgi_messages = [entry for entry in entries if entry.get("logger") == "uwsgi"]
    app_records = [entry for entry in entries if "timestamp" in entry and "level" in entry]
    assert len(uwsgi_messages) + len(app_records) == len(entries)
    assert any(entry["message"].startswith("*** Starting uWSGI") for entry in uwsgi_messages)
    assert any(entry["logger"] == "gatehouse.access" for entry in app_records)  # the app's lines, unchanged


def test_metrics_add_up_every_workers_counters(stack, figures):
    instance = stack.instances[0]
    before = health_count(instance)
    sent = 0
    for _batch in range(5):  # until both workers have answered some (they share the socket's accept queue)
        threads = [threading.Thread(target=lambda: [call("GET", f"{stack.url}/health") for _ in range(25)])
                   for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        sent += 200
        per_process = health_count_per_process(instance)
        if len([pid for pid in instance.worker_pids() if per_process.get(pid)]) == WORKERS:
            break
    per_process = health_count_per_process(instance)
    assert len([pid for pid in instance.worker_pids() if per_process.get(pid)]) == WORKERS, per_process
    # whichever worker answers /metrics reports every process's counts: ask several times
    answers = {health_count(instance) for _ in range(6)}
    assert answers == {before + sent} == {sum(per_process.values())}, (answers, before, sent, per_process)
    figures.add("uwsgi", f"/metrics: {sent} GET /health through nginx counted {answers.pop():.0f} in total, "
                         f"per worker {sorted(per_process.values())}")


def test_a_killed_workers_live_gauges_are_dropped_by_its_replacement(stack):
    instance = stack.instances[0]
    victim = instance.worker_pids()[0]
    assert (instance.metrics_dir / f"gauge_livesum_{victim}.db").exists()
    os.kill(victim, signal.SIGKILL)  # no exit hook runs: the next worker's start marks it dead
    wait_until(lambda: len(pids := instance.worker_pids()) == WORKERS and victim not in pids, 15,
               "the master replacing the killed worker")
    wait_until(lambda: not (instance.metrics_dir / f"gauge_livesum_{victim}.db").exists(), 15,
               "the replacement dropping the killed worker's live gauges")
    wait_until(lambda: call("GET", f"{stack.url}/health").status == 200, 15, "serving again")
    assert any(f"(pid: {victim}) died, killed by signal 9" in json.loads(line).get("message", "")
               for line in log_lines(instance) if line.startswith("{"))


def test_sighup_reloads_every_worker_under_traffic_without_a_failure(stack, account, figures):
    _email, token = account
    instance = stack.instances[0]
    master, old_workers = instance.process.pid, instance.worker_pids()
    counted_before = health_count(instance)
    traffic = Traffic().add(4, lambda i, _n: (call("GET", f"{stack.url}/api/v1/users/me", headers=bearer(token))
                                              if i % 2 else call("GET", f"{stack.url}/health")))
    probe = Traffic().add(1, lambda _i, _n: call("GET", f"{stack.url}/ready"), pause=0.1)
    try:
        time.sleep(1)
        signalled = time.monotonic()
        os.kill(master, signal.SIGHUP)
        new_workers = wait_until(lambda: (len(pids := instance.worker_pids()) == WORKERS
                                          and not set(pids) & set(old_workers) and pids), 30, "new workers")
        wait_until(lambda: call("GET", f"{stack.url}/ready").status == 200, 15, "/ready 200 again")
        reloaded = time.monotonic() - signalled
        time.sleep(1)
    finally:
        results, ready = traffic.stop(), probe.stop()
    by_status = collections.Counter(result.status for result in results)
    slowest = max(result.seconds for result in results if result.started >= signalled)
    figures.add("uwsgi", f"SIGHUP under 4 clients: {len(results)} requests {dict(by_status)}, slowest after the "
                         f"signal {slowest:.2f} s; workers {old_workers} -> {new_workers} in {reloaded:.1f} s")
    assert by_status == {200: len(results)}, [r for r in results if r.status != 200][:5]
    assert instance.process.alive()
    assert instance.process.pid == master  # the master stays (re-executed in place)
    # the old workers drained (/ready 503) while still serving, as gunicorn's do on HUP
    assert any(r.status == 503 for r in ready)
    assert all(r.status in (200, 503) for r in ready)
    # a reload keeps the Prometheus files: the counters go on; the old workers' live gauges went with them
    assert health_count(instance) >= counted_before
    assert not any((instance.metrics_dir / f"gauge_livesum_{pid}.db").exists() for pid in old_workers)


def test_sigterm_drains_then_stops_cleanly(stack, account, figures):
    _email, token = account
    instance = stack.instances[0]
    paths = ("/api/v1/users/me", "/health", "/ready")
    traffic = Traffic().add(len(paths), lambda i, _n: call("GET", f"{stack.url}{paths[i]}",
                                                            headers=bearer(token) if i == 0 else {}), pause=0.05)
    try:
        time.sleep(1)
        workers = instance.worker_pids()
        signalled = time.monotonic()
        instance.process.send(signal.SIGTERM)
        exited = instance.process.wait(DRAIN_SECONDS + 15)
        stopped = time.monotonic() - signalled
        time.sleep(0.5)
    finally:
        results = traffic.stop()
    assert exited, tail_of(instance)
    assert instance.process.popen.returncode == 0, tail_of(instance)
    # nothing listens any more. (The file itself stays after a reload: uWSGI 2.0's vacuum skips a socket inherited
    # across its re-exec. systemd removes it with the RuntimeDirectory.)
    with pytest.raises((ConnectionRefusedError, FileNotFoundError)):
        instance.request("GET", "/health", timeout=2)

    drain_end = signalled + DRAIN_SECONDS
    during = [r for r in results if signalled < r.started < drain_end - 0.5]
    ready_during = [r for r in during if r.label.endswith("/ready")]
    first_503 = min((r.started + r.seconds - signalled for r in ready_during if r.status == 503), default=None)
    assert first_503 is not None, ready_during
    assert first_503 < 1.0
    assert all(r.status == 503 for r in ready_during if r.started > signalled + 0.5)
    assert all(r.status == 200 for r in during if not r.label.endswith("/ready")), during
    # after the drain nothing answers: nginx's own 502 problem, never a hang or an app error
    after = [r for r in results if r.started > signalled + stopped + 0.1]
    assert after
    assert all(is_problem(r, 502) for r in after)
    entries = [json.loads(line) for line in log_lines(instance) if line.startswith("{")]
    for pid in workers:
        assert any(e["message"] == f"gatehouse: worker {pid} draining for {DRAIN_SECONDS:.1f} s, then stopping"
                   for e in entries if e.get("logger") == "uwsgi")
    assert any(e.get("logger") == "uwsgi" and e["message"] == "goodbye to uWSGI." for e in entries)
    figures.add("uwsgi", f"SIGTERM: /ready 503 from {first_503:.2f} s, {len(during)} other requests during the "
                         f"{DRAIN_SECONDS} s drain all 200, master exited 0 after {stopped:.1f} s")


def tail_of(instance):
    return "\n".join(log_lines(instance)[-30:])
