"""Prometheus metrics: request counters and latency by route pattern, security events and login failures, pool
gauges, access control on /metrics, and multiprocess mode (real processes writing to one directory)."""
import os
import subprocess
import sys
import textwrap

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector

from app.configs import ConfigurationError, TestConfig
from app.dependencies import resolve
from app.entities.audit_event import AuditEventType
from app.extensions import db
from app.observability import mark_worker_dead
from app.services.audit import AuditService
from app.services.ports import Transactions
from tests.support import DEFAULT_PASSWORD, ApiClient

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
METRICS_TOKEN = "metrics-token-0123456789abcdef"  # noqa: S105
OUTSIDER = {"REMOTE_ADDR": "203.0.113.9"}


@pytest.fixture
def metrics_app(make_app):
    """A fresh app (its own metrics registry, counting from zero)."""
    return make_app()


def sample(app, name, **labels):
    """The current value of a sample (0.0 when absent)."""
    return app.extensions["gatehouse.metrics"].registry.get_sample_value(name, labels) or 0.0


def scrape(app, status=200, extra_environ=None, **kwargs):
    """GET /metrics, from 127.0.0.1 unless `extra_environ` says otherwise."""
    return ApiClient(app).get("/metrics", status=status, extra_environ={"REMOTE_ADDR": "127.0.0.1",
                                                                        **(extra_environ or {})}, **kwargs)


# --- what is counted ------------------------------------------------------------------------------------------------

def test_requests_are_counted_by_route_pattern_method_and_status(metrics_app, users):
    user = users.create()
    api = ApiClient(metrics_app)
    token = api.post_json("/api/v1/auth/login", {"email": user.email, "password": user.password}).json["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    api.get(f"/api/v1/users/{user.id}", headers=headers)
    api.get(f"/api/v1/users/{user.id + 1000}", headers=headers, status=404)
    api.get(f"/api/v1/users/{user.id}", headers=headers)
    api.get("/no/such/page", status=404)
    ApiClient(metrics_app, lint=False).request("/health", method="BREW", status=405)
    route = "/api/v1/users/<int:user_id>"
    total = "gatehouse_http_requests_total"
    assert sample(metrics_app, total, method="GET", route=route, status="200") == 2
    assert sample(metrics_app, total, method="GET", route=route, status="404") == 1
    assert sample(metrics_app, total, method="POST", route="/api/v1/auth/login", status="200") == 1
    assert sample(metrics_app, total, method="GET", route="unmatched", status="404") == 1
    assert sample(metrics_app, total, method="other", route="unmatched", status="405") == 1


def test_latency_is_a_histogram_by_route(metrics_app):
    api = ApiClient(metrics_app)
    for _ in range(3):
        api.get("/health")
    name = "gatehouse_http_request_duration_seconds"
    assert sample(metrics_app, f"{name}_count", method="GET", route="/health") == 3
    assert sample(metrics_app, f"{name}_sum", method="GET", route="/health") > 0
    assert sample(metrics_app, f"{name}_bucket", method="GET", route="/health", le="10.0") == 3
    text = scrape(metrics_app).text
    assert 'gatehouse_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/health"}' in text
    assert "# TYPE gatehouse_http_request_duration_seconds histogram" in text


def test_login_failures_and_security_events_are_counted(metrics_app, users):
    user = users.create()
    api = ApiClient(metrics_app)
    for _ in range(2):
        api.post_json("/api/v1/auth/login", {"email": user.email, "password": "not the password"}, status=401)
    api.post_json("/api/v1/auth/login", {"email": "nobody@example.com", "password": "whatever it is"}, status=401)
    api.post_json("/api/v1/auth/login", {"email": user.email, "password": DEFAULT_PASSWORD})
    assert sample(metrics_app, "gatehouse_login_failures_total", method="password") == 3
    assert sample(metrics_app, "gatehouse_security_events_total", type="login.failed") == 3
    assert sample(metrics_app, "gatehouse_security_events_total", type="login.succeeded") == 1
    assert "gatehouse_login_failures_total" in scrape(metrics_app).text


def test_only_committed_audit_events_reach_the_listeners(metrics_app):
    heard = []
    with metrics_app.app_context():
        audit, transactions = resolve(AuditService), resolve(Transactions)
        audit.add_listener(lambda event_type, details: heard.append((event_type, details)))

        def rolled_back(uow):
            audit.record(uow, AuditEventType.LOGOUT, None, reason="rolled back")
            raise LookupError("abort")
        with pytest.raises(LookupError):
            transactions.run(rolled_back)
        assert heard == []

        def committed(uow):
            audit.record(uow, AuditEventType.LOGOUT, None, reason="one")
            audit.record(uow, AuditEventType.LOGOUT_ALL, None, reason="two")
            assert heard == []  # not before the commit
        transactions.run(committed)
    assert heard == [("logout", {"reason": "one"}), ("logout.all", {"reason": "two"})]
    assert sample(metrics_app, "gatehouse_security_events_total", type="logout") == 1


def test_pool_gauges_follow_checkouts(metrics_app):
    with metrics_app.app_context():
        size = db.engine.pool.size() if hasattr(db.engine.pool, "size") else None
        before = sample(metrics_app, "gatehouse_db_pool_checked_out")
        connection = db.engine.connect()
        assert sample(metrics_app, "gatehouse_db_pool_checked_out") == before + 1
        connection.close()
        assert sample(metrics_app, "gatehouse_db_pool_checked_out") == before
    ApiClient(metrics_app).get("/ready")  # checks a connection out and back in
    assert sample(metrics_app, "gatehouse_db_pool_checked_out") == before
    assert sample(metrics_app, "gatehouse_db_pool_size") == size
    text = scrape(metrics_app).text
    assert "gatehouse_db_pool_checked_out " in text
    assert "gatehouse_db_pool_size " in text


# --- serving /metrics -----------------------------------------------------------------------------------------------

def test_metrics_are_served_in_the_prometheus_text_format(metrics_app):
    response = scrape(metrics_app, headers={"X-Request-ID": "scrape-1"})
    assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert response.headers["X-Request-ID"] == "scrape-1"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    assert "# TYPE gatehouse_http_requests_total counter" in response.text


def test_scrapes_are_not_requests_and_not_in_the_api_document(metrics_app):
    scrape(metrics_app)
    scrape(metrics_app)
    assert "/metrics" not in scrape(metrics_app).text
    assert "/metrics" not in ApiClient(metrics_app).get("/swagger/").json["paths"]


def test_other_addresses_are_refused_with_a_problem(metrics_app):
    response = scrape(metrics_app, status=403, extra_environ=OUTSIDER)
    assert response.content_type == "application/problem+json"
    assert response.json["status"] == 403
    assert response.headers["X-Request-ID"]
    assert "gatehouse_" not in response.text
    scrape(metrics_app, extra_environ={"REMOTE_ADDR": "::1"})  # the IPv6 loopback is allowed by default


def test_the_bearer_token_admits_any_address(make_app):
    app = make_app(METRICS_BEARER_TOKEN=METRICS_TOKEN)
    scrape(app, headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, extra_environ=OUTSIDER)
    scrape(app, status=403, headers={"Authorization": f"Bearer {METRICS_TOKEN}x"}, extra_environ=OUTSIDER)
    scrape(app, status=403, headers={"Authorization": f"Basic {METRICS_TOKEN}"}, extra_environ=OUTSIDER)
    scrape(app, status=403, extra_environ=OUTSIDER)


def test_no_token_is_accepted_unless_one_is_configured(metrics_app):
    scrape(metrics_app, status=403, headers={"Authorization": "Bearer "}, extra_environ=OUTSIDER)


def test_allowed_networks_are_configurable(make_app):
    app = make_app(METRICS_ALLOWED_NETWORKS=TestConfig({"METRICS_ALLOWED_NETWORKS": "10.0.0.0/8"})
                   .METRICS_ALLOWED_NETWORKS)
    scrape(app, extra_environ={"REMOTE_ADDR": "10.20.30.40"})
    scrape(app, extra_environ={"REMOTE_ADDR": "::ffff:10.1.1.1"})  # IPv4-mapped, from a dual-stack socket
    scrape(app, status=403)  # 127.0.0.1 is no longer in the list


def test_behind_a_proxy_the_forwarded_client_address_is_checked(make_app):
    app = make_app(PROXY_HOPS=1)
    scrape(app, status=403, headers={"X-Forwarded-For": "203.0.113.9"})  # the proxy is local, the client is not
    scrape(app, headers={"X-Forwarded-For": "127.0.0.1"}, extra_environ={"REMOTE_ADDR": "10.0.0.2"})


def test_only_get_and_head(metrics_app):
    response = ApiClient(metrics_app).post("/metrics", status=405, extra_environ={"REMOTE_ADDR": "127.0.0.1"})
    assert response.headers["Allow"] == "GET, HEAD"


def test_disabled_metrics_are_neither_collected_nor_served(make_app):
    app = make_app(METRICS_ENABLED=False)
    ApiClient(app).get("/metrics", status=404)
    assert "gatehouse.metrics" not in app.extensions


@pytest.mark.parametrize(("environ", "variable"), [
    ({"METRICS_ALLOWED_NETWORKS": "10.0.0.1/8"}, "METRICS_ALLOWED_NETWORKS"),
    ({"METRICS_ALLOWED_NETWORKS": "localhost"}, "METRICS_ALLOWED_NETWORKS"),
    ({"METRICS_BEARER_TOKEN": "short"}, "METRICS_BEARER_TOKEN"),
    ({"METRICS_ENABLED": "perhaps"}, "METRICS_ENABLED"),
    ({"LOG_FORMAT": "xml"}, "LOG_FORMAT"),
    ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
])
def test_bad_observability_settings_are_refused(environ, variable):
    with pytest.raises(ConfigurationError, match=variable):
        TestConfig(environ)


def test_observability_defaults():
    config = TestConfig({"METRICS_ALLOWED_NETWORKS": "none"})
    assert config.METRICS_ALLOWED_NETWORKS == ()
    config = TestConfig({})
    assert [str(n) for n in config.METRICS_ALLOWED_NETWORKS] == ["127.0.0.1/32", "::1/128"]
    assert (config.METRICS_ENABLED, config.METRICS_BEARER_TOKEN, config.LOG_FORMAT) == (True, "", "text")


# --- multiprocess mode ----------------------------------------------------------------------------------------------

WORKER = textwrap.dedent("""
    import os, sys
    from app import create_app
    from app.configs import TestConfig
    from app.extensions import db
    app = create_app(TestConfig(database_url="sqlite://"))
    client = app.test_client()
    for _ in range(int(sys.argv[1])):
        assert client.get("/health").status_code == 200
    if sys.argv[2] == "hold":  # die holding a pooled connection, like a worker killed mid-request
        with app.app_context():
            held = db.engine.connect()
    else:
        sys.stdout.write(client.get("/metrics").get_data(as_text=True))
    sys.stdout.write("\\npid=%d\\n" % os.getpid())
    sys.stdout.flush()
    os._exit(0)
""")


def run_worker(directory, requests, mode):
    # The worker ends with os._exit, as gunicorn's do, so no exit hook would remove a mail queue made for it.
    environ = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory),
               "MAIL_QUEUE_PATH": os.path.join(directory, "mail-queue")}
    result = subprocess.run([sys.executable, "-c", WORKER, str(requests), mode], cwd=ROOT, env=environ,  # noqa: S603
                            capture_output=True, text=True, timeout=120, check=True)
    return result.stdout, int(result.stdout.rsplit("pid=", 1)[1])


def merged(directory, name, **labels):
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))
    return registry.get_sample_value(name, labels)


def test_multiprocess_mode_adds_up_every_process(tmp_path, monkeypatch):
    _, first = run_worker(tmp_path, 3, "hold")
    text, _second = run_worker(tmp_path, 2, "scrape")
    # The second process's /metrics already counts the first one's requests.
    assert 'gatehouse_http_requests_total{method="GET",route="/health",status="200"} 5.0' in text
    assert merged(tmp_path, "gatehouse_http_requests_total", method="GET", route="/health", status="200") == 5
    assert merged(tmp_path, "gatehouse_http_request_duration_seconds_count", method="GET", route="/health") == 5
    # Live gauges: the first process died holding a connection; once marked dead it no longer counts.
    assert merged(tmp_path, "gatehouse_db_pool_checked_out") == 1
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    mark_worker_dead(first)
    assert merged(tmp_path, "gatehouse_db_pool_checked_out") == 0
    assert merged(tmp_path, "gatehouse_http_requests_total", method="GET", route="/health", status="200") == 5


def test_a_multiprocess_directory_set_too_late_is_refused(make_app, tmp_path, monkeypatch):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))  # prometheus_client is already imported
    with pytest.raises(ConfigurationError, match="PROMETHEUS_MULTIPROC_DIR"):
        make_app()


def test_mark_worker_dead_is_a_no_op_in_single_process_mode(monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    mark_worker_dead(12345)
