"""Observability: structured logs with request ids and access lines (logs.py), Prometheus metrics (metrics.py).

docs/observability.md describes the log fields, the metrics and how to scrape them.
"""
from app.observability.logs import configure_logging, register_request_logging
from app.observability.metrics import mark_worker_dead, register_metrics
from app.services.audit import AuditService

__all__ = ["mark_worker_dead", "register_observability"]


def register_observability(app):
    """Install logging (LOG_LEVEL, LOG_FORMAT), the request id and access line, and the metrics with /metrics
    (METRICS_*) on `app`. Call it last in the factory, once `app.extensions["injector"]` is set: the metrics count
    the events of the app's own AuditService. Its request hooks take their places (first before_request, last
    after_request and teardown) wherever it is called. Raises ConfigurationError (PROMETHEUS_MULTIPROC_DIR)."""
    configure_logging(app)
    metrics = register_metrics(app, app.extensions["injector"].get(AuditService))
    register_request_logging(app, observers=[metrics.observe_request] if metrics is not None else [])
