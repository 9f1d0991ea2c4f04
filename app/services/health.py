"""Readiness checks, and the process-wide "draining" flag that graceful shutdown raises.

Draining: when gunicorn is told to stop (SIGTERM), each worker keeps serving for DRAIN_SECONDS while `/ready` answers
503, so load balancers and orchestrators take the instance out of rotation before it stops accepting connections
(see gunicorn.conf.py, which sets the flag, and docs/deployment.md). The flag lives in this module, once per process:
a `threading.Event`, so any thread may set it and request threads read it without a lock.
"""
import logging
import threading

from injector import inject

from app.queries.health import DatabaseProbe

logger = logging.getLogger(__name__)

_draining = threading.Event()


def start_draining():
    """Mark this process as draining: from now on `/ready` answers 503. Idempotent; thread-safe.

    Not async-signal-safe (Event.set takes a lock): call it from a thread, not from a signal handler (gunicorn.conf.py
    wakes a thread from its SIGTERM handler for that).
    """
    if not _draining.is_set():
        logger.info("draining: /ready answers 503 until this process stops")
        _draining.set()


def stop_draining():
    """Clear the flag (tests; a process that drains never serves normally again)."""
    _draining.clear()


def is_draining():
    """True once `start_draining()` ran in this process. Lock-free; safe from any thread."""
    return _draining.is_set()


class HealthService:
    """Answers whether the service's dependencies respond, and whether this process is shutting down. Singleton."""

    @inject
    def __init__(self, database: DatabaseProbe):
        self.database = database

    def draining(self):
        """True while this process drains before a graceful shutdown (no database access)."""
        return is_draining()

    def database_ready(self):
        """True when the database answers `SELECT 1`; False otherwise, after at most DATABASE_CONNECT_TIMEOUT or
        DATABASE_STATEMENT_TIMEOUT seconds (MySQL) when it does not answer."""
        return self.database.answers()
