"""Rate limits (Flask-Limiter) for the endpoints that take credentials or send mail (OWASP API4:2023, ASVS 5.0 6.3).

Each limited endpoint counts per client address (`RATELIMIT_PER_ADDRESS`) and per account (`RATELIMIT_PER_ACCOUNT`,
keyed by the normalized email in the body, the refresh token, or the bearer token's user), in its own buckets. Login
and the password change on PATCH /users/me count only failed attempts per account, so a user's own sign-ins never
use up the allowance; anyone can still spend an account's allowance of failures (the price of per-account limits:
keep RATELIMIT_PER_ACCOUNT generous enough that this is a short throttle, not a lockout). A request over a limit
answers 429 with `Retry-After` (seconds) and is not processed (checked before the body is parsed or a password is
hashed). The
client address is `request.remote_addr`: behind reverse proxies, set PROXY_HOPS (their number; see
app/http_policies.py) so it is the real client's. If the storage (Redis) is unreachable, the limits fall back to
per-process memory until it is back, rather than failing requests.

Flask-Limiter keeps its settings and storage on the `Limiter` object, so each app gets its own (`install`), and the
limits are applied to that app's resource instances: apps in one process (tests) never share counters or settings.
An account key function that needs a service declares it with `@inject` (`bearer_user_key`); `apply_limits`
supplies it from the app's injector, once per app.
"""
import functools
import hashlib
import hmac

from flask import current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from injector import inject
from werkzeug.exceptions import HTTPException

from app.entities.user import normalize_email
from app.injection import injected_arguments
from app.media_types import FORM
from app.services.sign_in import SignInService
from app.services.tokens import AccessTokenService

MARKER = "__gatehouse_rate_limit__"


def _per_address():
    return current_app.config["RATELIMIT_PER_ADDRESS"]


def _per_account():
    return current_app.config["RATELIMIT_PER_ACCOUNT"]


def _body_field(name):
    """A string field of the JSON body, or of a form body (`application/x-www-form-urlencoded`: the OAuth 2.0
    endpoints, app/controllers/oauth.py; a field sent twice counts as absent), or None. Never raises: the body has
    not been validated yet (the parser answers 400 for anything malformed after the limits are checked)."""
    try:
        if request.mimetype == FORM:
            values = request.form.getlist(name)
            return values[0] if len(values) == 1 and values[0] else None
        body = request.get_json(silent=True)  # None for a body that is not I-JSON (app/controllers/parsing.py)
    except HTTPException:  # larger than MAX_CONTENT_LENGTH: the parser answers 413 after the limits are checked
        return None
    value = body.get(name) if isinstance(body, dict) else None
    return value if isinstance(value, str) and value else None


def _digest(value):
    """Keys are keyed digests (HMAC-SHA-256 with SECRET_KEY): the limiter's storage and log lines never hold an
    address or a token, nor anything a reader of the storage could confirm a guessed address against."""
    secret = current_app.config["SECRET_KEY"].encode()
    return hmac.new(secret, value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:32]


def email_key():
    """The account a request names: a digest of its JSON `email`, normalized as stored (None when absent)."""
    email = _body_field("email")
    return None if email is None else "email:" + _digest(normalize_email(email))


def refresh_token_key():
    """The session a refresh request names (JSON, or the OAuth token endpoint's form): a digest of its refresh token
    (None when absent)."""
    token = _body_field("refresh_token")
    return None if token is None else "refresh:" + _digest(token)


@inject
def bearer_user_key(tokens: AccessTokenService):
    """The user a sign-in access token names, from its signature alone, or for any other bearer token (a personal
    access token, a service account's) a digest of the token; None without one: limits per account on endpoints
    that need a token, checked before the database is. `tokens`: the app's, supplied by `apply_limits`."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    token = token.strip()
    claims = tokens.claims(token)
    if claims is not None:
        return f"user:{claims.user_id}"
    # a personal access token or a service account's: limited per token (its digest), still before any lookup
    return "token:" + _digest(token)


@inject
def mfa_user_key(sign_in: SignInService):
    """The account a second-factor request's JSON `mfa_token` names, from its signature alone (None without a valid
    one): wrong codes are limited per account across all its MFA tokens (each token also ends after MFA_MAX_ATTEMPTS
    wrong codes, app/services/sign_in.py)."""
    token = _body_field("mfa_token")
    user_id = None if token is None else sign_in.user_of(token)
    return None if user_id is None else f"user:{user_id}"


def _is_failure(response):
    """A failed attempt at a credential: 401 (wrong password, bad token) or 403 (wrong current password). Not a
    429: refused attempts must not prolong the refusal; nor a right first factor that asks for the second, or a
    valid token that needs a step-up (their problems say `counts_as_failure` False)."""
    return response.status_code in (401, 403) and getattr(response, "counts_as_failure", True)


def rate_limited(account_key=None, failures_only=False):
    """Mark a resource method as rate limited: per client address, and per account when `account_key` (a function
    of the request returning a key or None) is given. `failures_only`: only failed attempts (401, 403) count
    against the account. Put it first (outermost) in the decorator list. `apply_limits` applies the limits."""
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


def apply_limits(limiter, resource, injector):
    """Wrap the marked methods of `resource` (an instance) with `limiter`'s per-address and per-account limits;
    `injector` (the app's) supplies the services account key functions declare with `@inject`."""
    for name in ("get", "post", "put", "patch", "delete"):
        method = getattr(resource, name, None)
        spec = getattr(method, MARKER, None)
        if spec is None:
            continue
        account_key, failures_only = spec
        limited = method
        if account_key is not None:
            account_key = _with_services(account_key, injector)
            limited = limiter.limit(
                _per_account, key_func=lambda key=account_key: key() or "",
                exempt_when=lambda key=account_key: key() is None,
                deduct_when=_is_failure if failures_only else None,
            )(limited)
        setattr(resource, name, limiter.limit(_per_address, key_func=get_remote_address)(limited))


def _with_services(key, injector):
    """`key` with the services it declares (`@inject`) given by `injector`, once: a function of the request alone."""
    services = injected_arguments(injector, key)
    return functools.partial(key, **services) if services else key
