"""Bearer authentication (RFC 6750) through Flask-HTTPAuth: token verification, roles, the second factor admins
must have (REQUIRE_MFA_FOR_ADMINS), and 401/403 problems.

`auth` (app/extensions.py) is one Flask-HTTPAuth object for every app in the process, its callbacks registered here
once; `install` gives each app the AccessTokenService its injector built, and the callback verifies a token with
the current app's.
"""
import functools

from flask import current_app, g, request

from app.entities import Role
from app.errors import MfaEnrolmentRequired
from app.extensions import auth
from app.problems import problem_response
from app.services.audit import ClientInfo
from app.services.tokens import AccessTokenService

BEARER_VERIFIER = "gatehouse.bearer_verifier"  # app.extensions key: the app's token verification
ENROLMENT_MARKER = "__gatehouse_allowed_before_mfa_enrolment__"


def allowed_before_mfa_enrolment(method):
    """Mark a resource method an admin without a second factor may still call under REQUIRE_MFA_FOR_ADMINS: reading
    their account, enrolling a factor, signing out."""
    setattr(method, ENROLMENT_MARKER, True)
    return method


def install(app, tokens: AccessTokenService):
    """Verify `app`'s bearer tokens with `tokens`, the AccessTokenService of its injector."""
    app.extensions[BEARER_VERIFIER] = functools.partial(authenticate, tokens)


@auth.verify_token
def verify_token(token):
    """Flask-HTTPAuth callback: the User the bearer token names, or None (then 401)."""
    return current_app.extensions[BEARER_VERIFIER](token)


def authenticate(tokens: AccessTokenService, token):
    """The User `token` names according to `tokens`, or None; records the outcome in `g` for the 401 challenge,
    `current_session_id` and the access log."""
    if not token:
        g.bearer_error = None  # no credentials at all: RFC 6750 3.1 says no error code
        return None
    claims = tokens.claims(token)
    user = None if claims is None else tokens.user_for(claims)
    g.bearer_error = None if user is not None else "invalid_token"
    g.access_claims = claims if user is not None else None
    g.user_id = user.id if user is not None else None  # for the access log line (app/observability/logs.py)
    if user is not None and _must_enrol_first(user):
        raise MfaEnrolmentRequired()
    return user


def _must_enrol_first(user):
    """True when REQUIRE_MFA_FOR_ADMINS refuses this request: `user` holds the admin role without a second factor,
    and the operation is not one marked `allowed_before_mfa_enrolment`."""
    if user.mfa_enabled or not current_app.config["REQUIRE_MFA_FOR_ADMINS"] or Role.ADMIN.value not in user.roles:
        return False
    view = current_app.view_functions.get(request.endpoint)
    method = getattr(getattr(view, "view_class", None), request.method.lower(), None)
    return not getattr(method, ENROLMENT_MARKER, False)


def current_session_id():
    """The session of the authenticated request's access token (call after `auth.login_required` let it in): the
    claims checked at authentication, not decoded again (the token may expire in between)."""
    return g.access_claims.session_id


def client_info():
    """ClientInfo of the current request, for the audit trail: address and User-Agent."""
    return ClientInfo(request.remote_addr, request.headers.get("User-Agent"))


@auth.get_user_roles
def get_user_roles(user):
    """Flask-HTTPAuth callback: the role names checked by `login_required(role=...)`."""
    return user.roles


@auth.error_handler
def auth_error(status):
    """401 with `WWW-Authenticate: Bearer` (and `error="invalid_token"` for a bad token), or 403."""
    challenge = f'Bearer realm="{auth.realm}"'
    if status == 403:
        return problem_response(403, "Forbidden", "Your account lacks the role this operation needs.",
                                headers={"WWW-Authenticate": challenge + ', error="insufficient_scope"'})
    error = g.get("bearer_error")
    if error:
        challenge += f', error="{error}", error_description="The access token is invalid or expired"'
    return problem_response(401, "Unauthorized", "A valid bearer access token is required.",
                            headers={"WWW-Authenticate": challenge})
