"""Bearer authentication (RFC 6750) through Flask-HTTPAuth: token verification (sign-in sessions, personal access
tokens, service accounts: app/services/bearer.py), roles, scopes (RFC 6750 3.1 `insufficient_scope`), the second
factor admins must have (REQUIRE_MFA_FOR_ADMINS), and 401/403 problems.

Every protected operation is decorated with `requires(scope, ..., role=...)`: it authenticates, checks the role and
the scopes, and documents them in the OpenAPI document (`security`: the `bearerAuth` and `oauth2` schemes, with the
scopes). tests/test_scopes.py walks the document and checks each operation enforces what it declares.

`auth` (app/extensions.py) is one Flask-HTTPAuth object for every app in the process, its callbacks registered here
once; `install` gives each app the BearerService its injector built, and the callback verifies a token with the
current app's.
"""
import functools

from flask import current_app, g, request
from flask_apispec import doc

from app.controllers.docs import problems
from app.entities import Role
from app.entities.scope import Scope, format_scopes
from app.errors import InsufficientScope, MfaEnrolmentRequired
from app.extensions import auth
from app.problems import problem_response
from app.services.audit import ClientInfo
from app.services.bearer import BearerService

BEARER_VERIFIER = "gatehouse.bearer_verifier"  # app.extensions key: the app's token verification
ENROLMENT_MARKER = "__gatehouse_allowed_before_mfa_enrolment__"
SCOPES_MARKER = "__gatehouse_scopes__"  # on a resource method: the frozenset of Scope it needs


def requires(*scopes, role=None):
    """Decorator of a resource method: a valid bearer token (401 otherwise), every scope of `scopes` (Scope
    members; 403 `insufficient_scope` naming them), and `role` when given (a role name; 403). A sign-in session's
    token holds every scope; a personal access token or a service account's token only its own. Documents the
    requirement as the operation's `security`: `bearerAuth` or `oauth2`, each with the scopes (OpenAPI 3.1 allows
    role names on non-OAuth schemes)."""
    needed = frozenset(Scope(scope) for scope in scopes)
    if not needed:
        raise ValueError("every protected operation names the scope it needs")
    names = sorted(str(scope) for scope in needed)

    def decorate(method):
        @functools.wraps(method)
        def scoped(*args, **kwargs):
            granted = g.bearer.scopes
            if granted is not None and not needed <= granted:
                raise InsufficientScope(format_scopes(needed))
            # the role after the scopes: a token lacking a scope is told which one (RFC 6750 3.1)
            if role is not None and role not in get_user_roles(auth.current_user()):
                return auth_error(403)
            return method(*args, **kwargs)
        protected = auth.login_required(scoped)
        setattr(protected, SCOPES_MARKER, needed)
        return problems(401, 403)(doc(security=[{"bearerAuth": names}, {"oauth2": names}])(protected))
    return decorate


def allowed_before_mfa_enrolment(method):
    """Mark a resource method an admin without a second factor may still call under REQUIRE_MFA_FOR_ADMINS: reading
    their account, enrolling a factor, signing out."""
    setattr(method, ENROLMENT_MARKER, True)
    return method


def install(app, bearers: BearerService):
    """Verify `app`'s bearer tokens with `bearers`, the BearerService of its injector."""
    app.extensions[BEARER_VERIFIER] = functools.partial(authenticate, bearers)


@auth.verify_token
def verify_token(token):
    """Flask-HTTPAuth callback: the User the bearer token names, or None (then 401)."""
    return current_app.extensions[BEARER_VERIFIER](token)


def authenticate(bearers: BearerService, token):
    """The user (a UserRow, or a service account's ServicePrincipal) `token` stands for according to `bearers`, or
    None; records the Bearer in `g` for the scope check, `current_session_id`, `client_info` and the access log, and
    the outcome for the 401 challenge."""
    if not token:
        g.bearer_error = None  # no credentials at all: RFC 6750 3.1 says no error code
        return None
    bearer = bearers.authenticate(token, ClientInfo(request.remote_addr, request.headers.get("User-Agent")))
    g.bearer_error = None if bearer is not None else "invalid_token"
    g.bearer = bearer
    user = None if bearer is None else bearer.user
    g.user_id = None if user is None else user.id  # for the access log line (app/observability/logs.py)
    if user is not None and _must_enrol_first(user):
        raise MfaEnrolmentRequired()
    return user


def _must_enrol_first(user):
    """True when REQUIRE_MFA_FOR_ADMINS refuses this request: `user` holds the admin role without a second factor,
    and the operation is not one marked `allowed_before_mfa_enrolment`."""
    if (getattr(user, "is_service_account", False) or user.mfa_enabled
            or not current_app.config["REQUIRE_MFA_FOR_ADMINS"] or Role.ADMIN.value not in user.roles):
        return False
    view = current_app.view_functions.get(request.endpoint)
    method = getattr(getattr(view, "view_class", None), request.method.lower(), None)
    return not getattr(method, ENROLMENT_MARKER, False)


def refuse_own_credentials_without_session(user_id):
    """On an admin route acting on `user_id`'s sign-in credentials: when that is the caller's own account and the
    caller is not a sign-in session, raise InsufficientScope (`credentials`), as the /users/me routes would. A
    leaked admin token must not end its owner's new sessions or tokens one by one."""
    if user_id == auth.current_user().id and current_session_id() is None:
        raise InsufficientScope(str(Scope.CREDENTIALS))


def current_session_id():
    """The sign-in session of the authenticated request's token (call after `requires` let it in), or None for a
    personal access token or a service account: what authentication found, not decoded again (the token may expire
    in between)."""
    return g.bearer.session_id


def client_info():
    """ClientInfo of the current request, for the audit trail: address, User-Agent, and the credential when the
    request authenticated with a personal access token or a service account."""
    bearer = g.get("bearer")
    return ClientInfo(request.remote_addr, request.headers.get("User-Agent"),
                      None if bearer is None else bearer.credential)


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
