"""Prometheus metrics (prometheus-client): requests, latency, security events, database pool; served at /metrics.

Under gunicorn every worker is a process with its own counters: with PROMETHEUS_MULTIPROC_DIR set (in the
environment before the process starts: prometheus_client picks its mode when imported) each process writes its
values to files there and /metrics, answered by any one worker, adds up every process's files. Empty that
directory before gunicorn starts, and call `mark_worker_dead(worker.pid)` from gunicorn's `child_exit` hook so a
dead worker's live gauges stop counting. Without it, one in-memory registry per app (fine for a single process).

/metrics is a small WSGI app mounted in front of Flask (prometheus_client's documented way to serve Flask apps):
no URL rule, so it is not in the OpenAPI document, and scrapes do not count as requests or write access lines.
It answers clients whose address is in METRICS_ALLOWED_NETWORKS, or that present METRICS_BEARER_TOKEN (when set)
as `Authorization: Bearer <token>`; others get a 403 problem. docs/observability.md has the names and labels.
"""
import hmac
import ipaddress
import logging
import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess, values
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from sqlalchemy import event
from werkzeug.wrappers import Request, Response

from app.configs import ConfigurationError
from app.entities.audit_event import AuditEventType
from app.extensions import db
from app.http_policies import security_headers
from app.observability.logs import REQUEST_ID_ENVIRON, REQUEST_ID_HEADER, request_id_for
from app.problems import problem_response
from app.unit_of_work import transaction_retried

logger = logging.getLogger(__name__)

METRICS_PATH = "/metrics"
MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Seconds. Reads answer in a few milliseconds, a login (argon2) in tens; 10 s is past any timeout we set.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0)
# The `method` label: any other method a client sends is counted as "other" (bounded label values).
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def multiprocess_directory():
    """PROMETHEUS_MULTIPROC_DIR, or None when unset (single-process mode). Raises ConfigurationError when it is not
    a directory, or when prometheus_client was imported in the other mode (the variable was set or unset after)."""
    directory = os.environ.get(MULTIPROC_DIR_ENV) or None
    single_process = values.ValueClass is values.MutexValue
    if directory is None:
        if not single_process:
            raise ConfigurationError(f"{MULTIPROC_DIR_ENV} was unset after prometheus_client was imported")
        return None
    if not os.path.isdir(directory):
        raise ConfigurationError(f"{MULTIPROC_DIR_ENV} must be an existing, writable directory, got {directory!r}")
    if single_process:
        raise ConfigurationError(f"{MULTIPROC_DIR_ENV} must be set in the environment before the process starts "
                                 "(it was set after prometheus_client was imported)")
    return directory


def mark_worker_dead(pid):
    """For gunicorn's `child_exit(server, worker)` hook: `mark_worker_dead(worker.pid)`. Drops the live gauges
    (livesum: connections checked out) of the process `pid` (an int) in multiprocess mode; no-op otherwise."""
    if os.environ.get(MULTIPROC_DIR_ENV):
        multiprocess.mark_process_dead(pid)


class Metrics:
    """One app's metrics. `multiprocess_dir`: a directory in multiprocess mode (values go to files there and
    `exposition()` merges every process's), else None (values in memory, in a registry of this instance's own)."""

    def __init__(self, multiprocess_dir=None):
        own = None if multiprocess_dir else CollectorRegistry()
        self.requests = Counter("gatehouse_http_requests", "HTTP requests answered, by method, route pattern and "
                                "status", ("method", "route", "status"), registry=own)
        self.request_duration = Histogram("gatehouse_http_request_duration_seconds", "HTTP request duration in "
                                          "seconds, by method and route pattern", ("method", "route"),
                                          buckets=DURATION_BUCKETS, registry=own)
        self.login_failures = Counter("gatehouse_login_failures", "Failed credential checks (audit event "
                                      "login.failed), by method", ("method",), registry=own)
        self.security_events = Counter("gatehouse_security_events", "Committed audit events, by type", ("type",),
                                       registry=own)
        self.transaction_retries = Counter("gatehouse_transaction_retries", "Units of work run again after losing a "
                                           "lock race (app/unit_of_work.py), by reason", ("reason",), registry=own)
        self.pool_checked_out = Gauge("gatehouse_db_pool_checked_out", "Database connections checked out of the "
                                      "pool (summed over live processes)", multiprocess_mode="livesum", registry=own)
        self.pool_size = Gauge("gatehouse_db_pool_size", "Connections the pool keeps per process (pool_size; up to "
                               "max_overflow more may open)", multiprocess_mode="max", registry=own)
        if multiprocess_dir:
            self.registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(self.registry, path=multiprocess_dir)
        else:
            self.registry = own
        self._request_series = {}  # (method, route, status) -> (counter child, histogram child)

    def observe_request(self, method, route, status, seconds):
        """Count one answered request (`method` str, `route` the URL rule pattern, `status` int) that took
        `seconds` (float)."""
        if method not in KNOWN_METHODS:
            method = "other"
        key = (method, route, status)
        series = self._request_series.get(key)
        if series is None:  # label lookups are the costly part: done once per series
            series = self._request_series[key] = (self.requests.labels(method, route, str(status)),
                                                  self.request_duration.labels(method, route))
        series[0].inc()
        series[1].observe(seconds)

    def observe_audit_event(self, event_type, details):
        """An AuditService listener: count a committed audit event (`event_type` str, `details` dict)."""
        self.security_events.labels(event_type).inc()
        if event_type == AuditEventType.LOGIN_FAILED:
            self.login_failures.labels(str(details.get("method", "unknown"))).inc()

    def observe_transaction_retry(self, _app, name=None, reason="unknown"):
        """A `transaction_retried` receiver: count one retried unit of work (`reason`: a retry_reason slug)."""
        self.transaction_retries.labels(reason).inc()

    def watch_pool(self, engine):
        """Track `engine`'s connection pool: its size now, and checkouts and checkins from now on."""
        size = getattr(engine.pool, "size", None)
        if callable(size):  # QueuePool (servers, SQLite files); other pools have no fixed size
            self.pool_size.set(size())

        def checked_out(_dbapi_connection, _record, _proxy):
            self.pool_checked_out.inc()

        def checked_in(_dbapi_connection, _record):
            self.pool_checked_out.dec()

        event.listen(engine, "checkout", checked_out)
        event.listen(engine, "checkin", checked_in)

    def exposition(self):
        """The Prometheus text format (version 0.0.4) of every metric, as bytes."""
        return generate_latest(self.registry)


class MetricsEndpoint:
    """The WSGI app answering /metrics for `app`: GET or HEAD from an allowed client -> 200 text/plain; version=0.0.4;
    a refused client -> 403 problem; another method -> 405 problem. Every answer carries X-Request-ID and the
    security headers."""

    def __init__(self, app, metrics):
        self.app = app
        self.metrics = metrics
        self.networks = app.config["METRICS_ALLOWED_NETWORKS"]
        self.token = app.config["METRICS_BEARER_TOKEN"].encode()

    def allowed(self, request):
        """True when the client address is in an allowed network, or the request carries the bearer token."""
        address = _address(request.remote_addr)
        if address is not None and any(address in network for network in self.networks):
            return True
        if not self.token:
            return False
        scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(credentials.strip().encode(), self.token)

    def __call__(self, environ, start_response):
        request = Request(environ)
        request_id = request_id_for(environ.get(REQUEST_ID_ENVIRON))
        if request.method not in ("GET", "HEAD"):
            response = self._problem(405, "Method Not Allowed", "/metrics answers GET.", {"Allow": "GET, HEAD"})
        elif not self.allowed(request):
            logger.warning("metrics scrape refused", extra={"request_id": request_id,
                                                            "remote_addr": request.remote_addr})
            response = self._problem(403, "Forbidden", "This address may not read the metrics.")
        else:
            response = Response(self.metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4,
                                                                    "Cache-Control": "no-store"})
        response.headers[REQUEST_ID_HEADER] = request_id
        return security_headers(response)(environ, start_response)

    def _problem(self, status, title, detail, headers=None):
        with self.app.app_context():
            return problem_response(status, title, detail, headers=headers)


def _address(remote_addr):
    try:
        address = ipaddress.ip_address(remote_addr or "")
    except ValueError:
        return None
    if address.version == 6 and address.ipv4_mapped is not None:  # ::ffff:10.1.2.3, from dual-stack sockets
        return address.ipv4_mapped
    return address


class MetricsMount:
    """WSGI middleware: requests for exactly /metrics go to `endpoint`, every other one to `wsgi_app`."""

    def __init__(self, wsgi_app, endpoint):
        self.wsgi_app = wsgi_app
        self.endpoint = endpoint

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == METRICS_PATH:
            return self.endpoint(environ, start_response)
        return self.wsgi_app(environ, start_response)


def register_metrics(app, audit):
    """Collect `app`'s metrics and serve them at /metrics; returns the Metrics, or None when METRICS_ENABLED is
    false (then nothing is collected and /metrics is a 404). `audit`: the app's AuditService, whose committed
    events are counted. Raises ConfigurationError for an unusable PROMETHEUS_MULTIPROC_DIR.

    The mount wraps `app.wsgi_app`; the factory puts ProxyFix (PROXY_HOPS) outside it, so the address /metrics
    checks is the client's, as Flask's views see it."""
    if not app.config["METRICS_ENABLED"]:
        return None
    metrics = Metrics(multiprocess_directory())
    with app.app_context():
        metrics.watch_pool(db.engine)
    audit.add_listener(metrics.observe_audit_event)
    transaction_retried.connect(metrics.observe_transaction_retry, sender=app)
    endpoint = MetricsEndpoint(app, metrics)
    app.wsgi_app = MetricsMount(app.wsgi_app, endpoint)
    app.extensions["gatehouse.metrics"] = metrics
    return metrics
