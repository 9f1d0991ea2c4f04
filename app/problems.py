"""One error body everywhere: RFC 9457 `application/problem+json`.

Handlers here turn domain errors, Werkzeug HTTP errors (404, 405, 413, ...), webargs validation errors, database
outages and unexpected exceptions into `{"type", "title", "status", "detail"}` (+ `"errors"` for validation).
"""
import logging
import math
import time

from flask import current_app
from flask_limiter.errors import RateLimitExceeded
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError

from app.errors import DomainError
from app.extensions import discard_read_connection
from app.media_types import PROBLEM_JSON
from app.unit_of_work import retry_reason

logger = logging.getLogger(__name__)

PROBLEM_TYPE_PREFIX = "urn:gatehouse:problem:"


def problem_response(status, title, detail=None, type_="about:blank", errors=None, headers=None, extensions=None):
    """Build a problem+json Response. `type_` "about:blank" means the status code says it all (RFC 9457 4.2.1).
    `extensions`: extension members (RFC 9457 3.2) added to the body."""
    body = {"type": type_, "title": title, "status": status, "detail": detail or title}
    if errors:
        body["errors"] = errors
    if extensions:
        body.update(extensions)
    response = current_app.json.response(body)
    response.status_code = status
    response.mimetype = PROBLEM_JSON
    if headers:
        response.headers.update(headers)
    return response


def _flatten(messages, prefix=""):
    """webargs/marshmallow messages (nested by location and field) -> {"field.sub": ["message", ...]}."""
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return {prefix or "_body": messages}
    if isinstance(messages, dict):
        flat = {}
        for key, value in messages.items():
            flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix or "_body": [str(messages)]}


def handle_domain_error(error):
    """A service refused the request: its class gives status, type and title."""
    response = problem_response(error.status, error.title, error.detail, PROBLEM_TYPE_PREFIX + error.slug,
                                error.errors, error.headers, error.extensions)
    response.counts_as_failure = error.counts_as_failure  # read by the rate limits (app/controllers/rate_limits.py)
    return response


def handle_http_exception(error):
    """Werkzeug and webargs errors. webargs puts field messages in `error.data["messages"]` by location."""
    messages = getattr(error, "data", {}).get("messages") if isinstance(getattr(error, "data", None), dict) else None
    headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
    if messages is not None:
        # A location ("json", "query") wraps the fields; clients care about the field names.
        errors = {}
        for location_messages in messages.values():
            errors.update(_flatten(location_messages))
        return problem_response(400, "Request validation failed", "One or more fields are invalid.",
                                PROBLEM_TYPE_PREFIX + "validation-error", errors, headers)
    return problem_response(error.code, error.name, error.description, headers=headers)


def retry_after_seconds():
    """Seconds until the limit Flask-Limiter just found breached frees a slot (at least 1; 60 when unknown): the
    `Retry-After` of a 429 (RFC 6585 4, RFC 9110 10.2.3)."""
    limiter = current_app.extensions.get("gatehouse.limiter")
    breached = limiter.current_limit if limiter is not None else None
    return max(1, math.ceil(breached.window[0] - time.time())) if breached is not None else 60


def handle_rate_limited(_error):
    """Flask-Limiter refused the request: a 429 problem with `Retry-After` (retry_after_seconds)."""
    retry_after = retry_after_seconds()
    return problem_response(429, "Too Many Requests", f"Too many attempts: retry in {retry_after} seconds.",
                            PROBLEM_TYPE_PREFIX + "rate-limited", headers={"Retry-After": str(retry_after)})


def handle_database_unavailable(error):
    """The database could not be reached, dropped or timed out the connection (DATABASE_CONNECT_TIMEOUT,
    DATABASE_STATEMENT_TIMEOUT), or a unit of work lost every attempt at a lock race (deadlock, lock wait timeout:
    app/unit_of_work.py): 503, the client may retry. Any other
    database error is a bug (handle_unexpected: 500). The request's read connection is discarded, not returned to
    the pool (returning it would wait on the server again)."""
    if isinstance(error, DBAPIError) and not isinstance(error, (OperationalError, InterfaceError)) \
            and not error.connection_invalidated and retry_reason(error) is None:
        return handle_unexpected(error)
    discard_read_connection()
    logger.error("database unavailable: %s (%s)", error.__class__.__name__, error.orig.__class__.__name__)
    return problem_response(503, "Service Unavailable", "The database is unavailable; try again shortly.",
                            headers={"Retry-After": "5"})


def handle_unexpected(error):
    """A bug: log the traceback, tell the client nothing internal."""
    if isinstance(error, HTTPException) and not isinstance(error, InternalServerError):
        return handle_http_exception(error)
    original = getattr(error, "original_exception", None) or error
    logger.error("unhandled exception", exc_info=(type(original), original, original.__traceback__))
    return problem_response(500, "Internal Server Error", "An unexpected error occurred.")


def register_error_handlers(app):
    """Install the problem handlers on `app`."""
    app.register_error_handler(DomainError, handle_domain_error)
    app.register_error_handler(RateLimitExceeded, handle_rate_limited)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(OperationalError, handle_database_unavailable)
    app.register_error_handler(InterfaceError, handle_database_unavailable)
    app.register_error_handler(DBAPIError, handle_database_unavailable)
    app.register_error_handler(Exception, handle_unexpected)
