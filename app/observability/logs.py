"""Structured logs: JSON lines on stdout (or text lines for development), a request id on every request and every
record logged while it is handled, one access line per request, and a last-resort mask for credentials.

A JSON line (LOG_FORMAT=json) is one object: `timestamp` (ISO 8601, UTC, milliseconds, `Z`), `level`, `logger`,
`message`, `exc_info` (a traceback) when one is attached, then the record's extra fields (`request_id` while a request
is handled; the access line's fields below). docs/observability.md lists them. The formatter is
app.runtime.JsonLineFormatter, which gunicorn's own lines use too (gunicorn.conf.py): one schema for both.

What keeps secrets out of the logs is what is never logged: request and response bodies, headers (Authorization
included), query strings, SQL parameters (the engine runs with `hide_parameters`, app/configs.py) and result rows
(`sqlalchemy.engine` is held at WARNING). As a last resort, the formatters mask anything shaped like a credential
(`Bearer <x>`, JWTs and our itsdangerous access tokens, both `eyJ...` base64url JSON) and the
configured secrets themselves (SECRET_KEY, METRICS_BEARER_TOKEN, MAIL_PASSWORD, the database password).
Refresh tokens and mailed tokens are random strings no pattern can tell from an id: they travel in request bodies
only, which are never logged.
"""
import logging
import os
import re
import sys
import time

from flask import g, has_request_context, request
from flask.logging import default_handler
from sqlalchemy.engine import make_url

from app.runtime import JsonLineFormatter

ACCESS_LOGGER = "gatehouse.access"
REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_ENVIRON = "HTTP_X_REQUEST_ID"  # the WSGI name of the X-Request-ID request header
UNMATCHED_ROUTE = "unmatched"  # the `route` of a request no URL rule matched (404, 405, redirects)
REDACTED = "[REDACTED]"
MIN_MASKED_SECRET_LENGTH = 8  # characters; shorter configured secrets would mask ordinary words

# A request id we accept from the proxy or client; anything else is replaced by a fresh one.
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# A bearer credential (8+ token68 characters after "Bearer "), or a JWT / itsdangerous token (base64url JSON:
# "eyJ", then two dot-separated parts). Linear in the line's length; run only on lines holding either word.
_CREDENTIAL = re.compile(r"(?P<scheme>\b(?i:bearer)\s+)[\w.~+/=-]{8,}|eyJ[\w-]*\.[\w-]+\.[\w-]+")
# A URL rule's converter arguments, dropped from the `route` label: <int(max=...):user_id> -> <int:user_id>.
_CONVERTER_ARGUMENTS = re.compile(r"<(\w+)\([^)]*\):")
_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
# Loggers that would otherwise write a line per connection or statement, held at WARNING unless configured:
# sqlalchemy.engine (at DEBUG it logs result rows, which hold hashes and emails) and mysql.connector (INFO on every
# connection it opens).
_QUIET_LOGGERS = ("sqlalchemy.engine", "mysql.connector")


def request_id_for(header_value):
    """The request id for a request whose X-Request-ID header is `header_value` (str or None): the header when it is
    1-128 characters of [A-Za-z0-9._:-], else a new one (`new_request_id`: a uuid4 in hex, 32 characters)."""
    if header_value is not None and _VALID_REQUEST_ID.fullmatch(header_value):
        return header_value
    return new_request_id()


def new_request_id():
    """A random UUID version 4 as 32 hex digits: what `uuid.uuid4().hex` returns, built without the UUID object
    (measured: docs/performance.md, "Per-request overheads")."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    return raw.hex()


def route_pattern(rule):
    """A URL rule (str) as the `route` field and label: converter arguments dropped, e.g.
    `/api/v1/users/<int(max=9223372036854775807):user_id>` -> `/api/v1/users/<int:user_id>`."""
    return _CONVERTER_ARGUMENTS.sub(r"<\1:", rule)


class Redactor:
    """Masks credentials in a formatted log line: `redactor(line) -> line`, with `[REDACTED]` in place of each
    credential-shaped string (see the module docstring) and of each of `secrets` (strings; those shorter than
    MIN_MASKED_SECRET_LENGTH are ignored)."""

    def __init__(self, secrets=()):
        self.secrets = tuple(sorted({s for s in secrets if s and len(s) >= MIN_MASKED_SECRET_LENGTH}, key=len,
                                    reverse=True))

    @staticmethod
    def _mask(match):
        return (match.group("scheme") or "") + REDACTED

    def __call__(self, line):
        # A fast test first: most lines hold neither word (measured: docs/performance.md, "Per-request overheads").
        lowered = line.lower()
        if "bearer" in lowered or "eyj" in lowered:
            line = _CREDENTIAL.sub(self._mask, line)
        for secret in self.secrets:
            if secret in line:
                line = line.replace(secret, REDACTED)
        return line


def configured_secrets(config):
    """The secret values in a Flask `config` that must never be logged (empty ones included; Redactor drops them)."""
    try:
        database_password = make_url(config.get("SQLALCHEMY_DATABASE_URI") or "sqlite://").password
    except Exception:  # an unparsable URL fails elsewhere, loudly; here it only has no password to mask
        database_password = None
    return (config.get("SECRET_KEY"), config.get("METRICS_BEARER_TOKEN"), config.get("MAIL_PASSWORD"),
            database_password)


class TextLineFormatter(logging.Formatter):
    """`time LEVEL logger [request id] message` (`-` outside requests), Redactor applied."""

    def __init__(self, redactor):
        super().__init__(_TEXT_FORMAT, defaults={"request_id": "-"})
        self.redactor = redactor

    def format(self, record):
        return self.redactor(super().format(record))


class RequestIdFilter(logging.Filter):
    """Sets `request_id` on every record logged while a request is handled (unless the record names one already).
    Installed on the handler, so it sees records of every logger that propagate to it."""

    def filter(self, record):
        if "request_id" not in record.__dict__ and has_request_context():
            request_id = g.get("request_id")
            if request_id is not None:
                record.request_id = request_id
        return True


class GatehouseHandler(logging.StreamHandler):
    """The root handler Gatehouse installs (its own class, so configuring again replaces it instead of adding)."""


def configure_logging(app):
    """Configure the root logger for `app` (LOG_LEVEL, LOG_FORMAT); idempotent: apps created again in one process
    (tests) replace the handler an earlier one installed, never add another.

    json: Gatehouse owns the root logger's output: one GatehouseHandler writing JSON lines to stdout, added beside
    whatever the host has (gunicorn installs no root handler; its own loggers do not propagate), root level set.
    text: like `logging.basicConfig`, a handler (stderr) is added only when the host configured none, so a host's
    logging setup (pytest, an embedding program) is left as it is. Flask's own stderr handler is taken off
    `app.logger` whenever ours is installed (it would print every app.logger record twice, unformatted).
    """
    level = app.config["LOG_LEVEL"]
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, GatehouseHandler)]:
        root.removeHandler(handler)
    json_lines = app.config["LOG_FORMAT"] == "json"
    if json_lines or not root.handlers:
        redactor = Redactor(configured_secrets(app.config))
        handler = GatehouseHandler(sys.stdout if json_lines else sys.stderr)
        handler.setFormatter(JsonLineFormatter(redactor) if json_lines else TextLineFormatter(redactor))
        handler.addFilter(RequestIdFilter())
        root.addHandler(handler)
        root.setLevel(level)
        app.logger.removeHandler(default_handler)
    app.logger.setLevel(level)
    # SQLAlchemy logs every statement at INFO and every result row at DEBUG once its logger is enabled, and root
    # at DEBUG enables it: rows hold hashes and emails. mysql-connector logs INFO lines on every connection. Both
    # stay opt-in (set the logger's level).
    for name in _QUIET_LOGGERS:
        quiet = logging.getLogger(name)
        if quiet.level == logging.NOTSET:
            quiet.setLevel(logging.WARNING)


def register_request_logging(app, observers=()):
    """Install the request hooks on `app`: a request id, an `X-Request-ID` response header, and after each request
    one INFO line on the `gatehouse.access` logger and a call to each of `observers`.

    The request id (`g.request_id`) is the X-Request-ID request header when valid (see `request_id_for`), else a
    new one; it is echoed on every response Flask produces (errors, problems and 404s included). The access line's
    extra fields: request_id, method, route (the URL rule without converter arguments, e.g.
    `/api/v1/users/<int:user_id>`; `unmatched` when none matched), path (without the query string), status,
    duration_ms (float, 2 decimals: from the first before_request hook to the end of the request's teardown),
    user_id (the bearer token's user, else null), remote_addr (after ProxyFix). `observers`: callables
    `(method, route, status, seconds)`, e.g. the metrics.

    Exactly once per request: the line is written in teardown_request (which runs once per request, whatever
    raised), with the status the last after_request saw (500 when none ran). The hooks are put first among the
    before_request hooks and last among the after_request and teardown hooks, wherever this is called from: the
    status is the final one (after conditional GET turned a 200 into a 304), and the clock starts first.
    """
    access = logging.getLogger(ACCESS_LOGGER)
    observers = tuple(observers)
    routes = {}  # URL rule (str) -> its `route`, computed once per rule

    # Each hook resolves the `g` and `request` proxies once: each access is a context-variable lookup
    # (measured: docs/performance.md, "Per-request overheads").
    def start_request():
        state = g._get_current_object()
        state.request_id = request_id_for(request.environ.get(REQUEST_ID_ENVIRON))
        state.request_started = time.perf_counter()
        state.response_status = None
        state.user_id = None

    def tag_response(response):
        state = g._get_current_object()
        request_id = state.get("request_id")
        if request_id is not None:
            response.headers[REQUEST_ID_HEADER] = request_id
        state.response_status = response.status_code
        return response

    def end_request(_exc=None):
        state = g._get_current_object()
        started = state.pop("request_started", None)
        if started is None:  # start_request did not run for this request: nothing to measure
            return
        seconds = time.perf_counter() - started
        status = state.pop("response_status", None) or 500
        user_id = state.pop("user_id", None)
        current = request._get_current_object()
        rule = current.url_rule
        route = routes.get(rule.rule) if rule is not None else UNMATCHED_ROUTE
        if route is None:
            route = routes[rule.rule] = route_pattern(rule.rule)
        method = current.method
        if access.isEnabledFor(logging.INFO):
            duration_ms = round(seconds * 1000, 2)
            access.info("%s %s %s %.2fms", method, route, status, duration_ms, extra={
                "request_id": state.get("request_id"), "method": method, "route": route, "path": current.path,
                "status": status, "duration_ms": duration_ms, "user_id": user_id,
                "remote_addr": current.remote_addr})
        for observe in observers:
            observe(method, route, status, seconds)

    app.before_request_funcs.setdefault(None, []).insert(0, start_request)
    app.after_request_funcs.setdefault(None, []).insert(0, tag_response)  # after_request hooks run in reverse
    app.teardown_request_funcs.setdefault(None, []).insert(0, end_request)  # so do teardown hooks
