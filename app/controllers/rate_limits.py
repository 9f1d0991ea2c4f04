"""Rate limits (Flask-Limiter) for the endpoints that take credentials or send mail (OWASP API4:2023, ASVS 5.0 6.3).

Each limited endpoint counts per client address (`RATELIMIT_PER_ADDRESS`) and per account (`RATELIMIT_PER_ACCOUNT`,
keyed by the normalized email in the body, or by the refresh token's digest), in its own buckets. Login counts only
failed attempts per account, so a user's own sign-ins never lock them out. A request over a limit answers 429 with
`Retry-After` (seconds) and is not processed (the check runs before the body is parsed or a password hashed). The
client address is `request.remote_addr`: behind a reverse proxy, configure the proxy hop count so it is the real
client's.

Flask-Limiter keeps its settings and storage on the `Limiter` object, so each app gets its own (`install`), and the
limits are applied to that app's resource instances: apps in one process (tests) never share counters or settings.
"""
import hashlib

from flask import current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

MARKER = "__gatehouse_rate_limit__"


def _per_address():
    return current_app.config["RATELIMIT_PER_ADDRESS"]


def _per_account():
    return current_app.config["RATELIMIT_PER_ACCOUNT"]


def _body_field(name):
    body = request.get_json(silent=True)
    value = body.get(name) if isinstance(body, dict) else None
    return value if isinstance(value, str) and value else None


def _digest(value):
    """Keys are digests: the limiter's storage and its log lines never hold an address or a token."""
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def email_key():
    """The account a request names: a digest of its JSON `email`, normalized as stored (None when absent)."""
    email = _body_field("email")
    return None if email is None else "email:" + _digest(email.strip().lower())


def refresh_token_key():
    """The session a refresh request names: a digest of its refresh token (None when absent)."""
    token = _body_field("refresh_token")
    return None if token is None else "refresh:" + _digest(token)


def rate_limited(account_key=None, failures_only=False):
    """Mark a resource method as rate limited: per client address, and per account when `account_key` (a function
    of the request returning a key or None) is given. `failures_only`: only responses of 400 and above count
    against the account. Put it first (outermost) in the decorator list. `install` applies the limits."""
    def decorate(method):
        setattr(method, MARKER, (account_key, failures_only))
        return method
    return decorate


def install(app):
    """Create `app`'s Limiter from its RATELIMIT_* settings; returns it (also in app.extensions)."""
    limiter = Limiter(key_func=get_remote_address)
    limiter.init_app(app)
    app.extensions["gatehouse.limiter"] = limiter
    return limiter


def apply_limits(limiter, resource):
    """Wrap the marked methods of `resource` (an instance) with `limiter`'s per-address and per-account limits."""
    for name in ("get", "post", "put", "patch", "delete"):
        method = getattr(resource, name, None)
        spec = getattr(method, MARKER, None)
        if spec is None:
            continue
        account_key, failures_only = spec
        limited = method
        if account_key is not None:
            limited = limiter.limit(
                _per_account, key_func=lambda key=account_key: key() or "",
                exempt_when=lambda key=account_key: key() is None,
                deduct_when=(lambda response: response.status_code >= 400) if failures_only else None,
            )(limited)
        setattr(resource, name, limiter.limit(_per_address, key_func=get_remote_address)(limited))
