"""Rate limits (Flask-Limiter) for the endpoints that take credentials or send mail (OWASP API4:2023, ASVS 5.0 6.3).

Each limited endpoint counts per client address (`RATELIMIT_PER_ADDRESS`) and per account (`RATELIMIT_PER_ACCOUNT`,
keyed by the normalized email in the body, or by the refresh token's digest), in its own buckets. Login counts only
failed attempts per account, so a user's own sign-ins never lock them out. A request over a limit answers 429 with
`Retry-After` (seconds) and is not processed. The client address is `request.remote_addr`: behind a reverse proxy,
configure the proxy hop count (issue "Production operations") so it is the real client's.
"""
import hashlib

from flask import current_app, request
from flask_limiter.util import get_remote_address

from app.extensions import limiter


def _per_address():
    return current_app.config["RATELIMIT_PER_ADDRESS"]


def _per_account():
    return current_app.config["RATELIMIT_PER_ACCOUNT"]


def _body_field(name):
    body = request.get_json(silent=True)
    value = body.get(name) if isinstance(body, dict) else None
    return value if isinstance(value, str) and value else None


def email_key():
    """The account a request names: its JSON `email`, normalized as stored (None when absent)."""
    email = _body_field("email")
    return None if email is None else "email:" + email.strip().lower()


def refresh_token_key():
    """The session a refresh request names: a digest of its refresh token (None when absent)."""
    token = _body_field("refresh_token")
    return None if token is None else "refresh:" + hashlib.sha256(token.encode()).hexdigest()


def rate_limited(account_key=None, failures_only=False):
    """Decorate a resource method with the per-address limit and, when `account_key` is given, the per-account
    limit keyed by it. `failures_only`: count only responses of 400 and above against the account."""
    def decorate(method):
        if account_key is not None:
            method = limiter.limit(
                _per_account, key_func=lambda: account_key() or "", exempt_when=lambda: account_key() is None,
                deduct_when=(lambda response: response.status_code >= 400) if failures_only else None,
            )(method)
        return limiter.limit(_per_address, key_func=get_remote_address)(method)
    return decorate
