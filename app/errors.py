"""Domain errors raised by services. `app/problems.py` maps each to an RFC 9457 problem response.

Each class names its HTTP status (RFC 9110 semantics), a stable problem `type` slug and a human title, so services
stay free of HTTP while clients get one consistent body.
"""


class DomainError(Exception):
    """Base of every error a client can cause. `detail` is safe to show to the client."""

    status = 400
    slug = "bad-request"
    title = "Bad request"

    headers = {}  # extra response headers, e.g. the WWW-Authenticate a 401 requires (RFC 9110 15.5.2)
    extensions = {}  # extension members of the problem document (RFC 9457 3.2), e.g. an MFA token
    counts_as_failure = True  # a 401/403 counts against per-account rate limits of failed attempts

    def __init__(self, detail=None, *, errors=None):
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = errors  # {"field": ["message", ...]} for validation problems


class ValidationFailed(DomainError):
    """Input is well-formed but breaks a rule (password policy, wrong current password). 400."""

    status = 400
    slug = "validation-error"
    title = "Request validation failed"

    def __init__(self, errors, detail="One or more fields are invalid."):
        super().__init__(detail, errors=errors)


class ReauthenticationRequired(DomainError):
    """A sensitive change (the password) needs the correct `current_password`, which was missing or wrong. 403:
    the caller is authenticated, but has not proven they may make this change."""

    status = 403
    slug = "reauthentication-required"
    title = "Current password required"

    def __init__(self, message, wrong_password=False):
        super().__init__(message, errors={"current_password": [message]})
        self.wrong_password = wrong_password  # a wrong guess (audited), not a missing field


class InvalidCredentials(DomainError):
    """Login failed: unknown email, wrong password or inactive account (deliberately indistinguishable). 401."""

    status = 401
    slug = "invalid-credentials"
    title = "Invalid credentials"
    headers = {"WWW-Authenticate": 'Bearer realm="gatehouse"'}

    def __init__(self):
        super().__init__("The email or password is incorrect.")


class AccountGone(DomainError):
    """The authenticated account was deleted while the request ran: the answer it would have had a moment later,
    when its access token no longer authenticates (RFC 6750 3.1 `invalid_token`). 401."""

    status = 401
    slug = "account-deleted"
    title = "Unauthorized"
    headers = {"WWW-Authenticate": 'Bearer realm="gatehouse", error="invalid_token", '
                                   'error_description="The access token is invalid or expired"'}

    def __init__(self):
        super().__init__("A valid bearer access token is required: this account no longer exists.")


class NotFound(DomainError):
    """The resource a path names does not exist, or is not the caller's to see (RFC 9110 15.5.5). 404. Raise it with
    a detail naming what was looked for ("No note has id 7."); resources whose clients tell kinds of absence apart
    subclass it with their own slug."""

    status = 404
    slug = "not-found"
    title = "Not found"


class UserNotFound(NotFound):
    """No user has the requested id. 404."""

    status = 404
    slug = "user-not-found"
    title = "User not found"


class EmailTaken(DomainError):
    """Another account already uses this email (compared case-insensitively). 409."""

    status = 409
    slug = "email-taken"
    title = "Email already registered"

    def __init__(self):
        super().__init__("An account with this email already exists.")


class SelfLockout(DomainError):
    """An admin tried to delete, demote or deactivate their own account. 409."""

    status = 409
    slug = "self-lockout"
    title = "Operation not allowed on your own account"


class VersionMismatch(DomainError):
    """The client's `If-Match` names a version the resource no longer has (RFC 9110 13.1.1). 412."""

    status = 412
    slug = "version-mismatch"
    title = "Precondition Failed"

    def __init__(self):
        super().__init__("The resource changed since you read it: fetch it again, then retry with its new ETag.")


class InvalidRefreshToken(DomainError):
    """The refresh token is unknown, expired, spent, or its session ended (RFC 6749 5.2 `invalid_grant`). 401."""

    status = 401
    slug = "invalid-refresh-token"
    title = "Invalid refresh token"
    headers = {"WWW-Authenticate": 'Bearer realm="gatehouse"'}

    def __init__(self):
        super().__init__("The refresh token is invalid, expired or already used: sign in again.")


class InvalidIdToken(DomainError):
    """A social login's ID token failed verification (signature, issuer, audience, expiry, or unverified email).
    401."""

    status = 401
    slug = "invalid-id-token"
    title = "Invalid ID token"
    headers = {"WWW-Authenticate": 'Bearer realm="gatehouse"'}

    def __init__(self, detail, *, user_id=None, reason=None):
        super().__init__(detail)
        self.user_id = user_id  # the account concerned, when known (for the audit trail)
        self.reason = reason or detail


class ProviderNotFound(NotFound):
    """No identity provider of that name is configured. 404."""

    status = 404
    slug = "provider-not-found"
    title = "Identity provider not found"


class InvalidOneTimeToken(DomainError):
    """An email verification or password reset token that is unknown, expired, used or superseded. 400."""

    status = 400
    slug = "invalid-token"
    title = "Invalid or expired token"

    def __init__(self):
        super().__init__("The token is invalid, expired, or was already used or replaced by a newer one.",
                         errors={"token": ["Invalid, expired, used or superseded."]})


class DependencyUnavailable(DomainError):
    """A service Gatehouse depends on (identity provider keys, the mail queue) cannot be reached; nothing was
    written. 503: the client may retry."""

    status = 503
    slug = "dependency-unavailable"
    title = "Service Unavailable"
    headers = {"Retry-After": "5"}


class SecondFactorRequired(DomainError):
    """The first factor was right, and the account has a second factor: no tokens yet. The problem carries the
    extension members `mfa_token` (complete the sign-in with it at POST /auth/mfa or /auth/mfa/passkey),
    `expires_in` (seconds) and `factors` (what the account can answer with: "totp", "recovery_code", "passkey").
    403, after Auth0's `mfa_required`; not a failed attempt."""

    status = 403
    slug = "mfa-required"
    title = "Second factor required"
    counts_as_failure = False

    def __init__(self, mfa_token, expires_in, factors):
        super().__init__("Complete the sign-in with a second factor: send the mfa_token with a code to "
                         "POST /api/v1/auth/mfa, or with a passkey assertion to POST /api/v1/auth/mfa/passkey.")
        self.extensions = {"mfa_token": mfa_token, "expires_in": expires_in, "factors": list(factors)}


class InvalidMfaToken(DomainError):
    """The MFA token is unknown, expired, used, or ended by too many wrong codes: sign in again. 401."""

    status = 401
    slug = "invalid-mfa-token"
    title = "Invalid MFA token"
    headers = {"WWW-Authenticate": 'Bearer realm="gatehouse"'}

    def __init__(self):
        super().__init__("The MFA token is invalid, expired, already used, or ended after too many wrong codes: "
                         "sign in again.")


class InvalidSecondFactor(DomainError):
    """A TOTP code, recovery code or passkey assertion that does not prove the factor: wrong, already used (a TOTP
    code works once), outside the one step of clock drift allowed, or for a factor the account does not have. 401
    when completing a sign-in, 403 when re-authenticating an authenticated caller (`status` given)."""

    status = 401
    slug = "invalid-second-factor"
    title = "Invalid second factor"
    headers = {"WWW-Authenticate": 'Bearer realm="gatehouse"'}

    def __init__(self, detail="The code is wrong, expired or already used.", field="code", status=None):
        super().__init__(detail, errors={field: [detail]})
        if status is not None:
            self.status = status
            self.headers = {}


class StepUpRequired(DomainError):
    """A sensitive operation needs a recent, strong enough authentication in this session: RFC 9470's
    `insufficient_user_authentication`, with `acr_values` (the class needed: "aal1", or "aal2" for an account with
    a second factor) and `max_age` (seconds) in `WWW-Authenticate` and as problem extension members. Step up with
    POST /api/v1/auth/reauthenticate (or sign in again). 401, as RFC 9470 section 3 says: the token is valid but its
    authentication event is not enough for this operation."""

    status = 401
    slug = "insufficient-user-authentication"
    title = "Insufficient user authentication"
    counts_as_failure = False

    def __init__(self, acr_values, max_age):
        super().__init__(f"This operation needs an authentication of class {acr_values} at most {max_age} seconds "
                         f"old: re-authenticate (POST /api/v1/auth/reauthenticate) or sign in again, then retry.")
        self.headers = {"WWW-Authenticate": (
            'Bearer realm="gatehouse", error="insufficient_user_authentication", error_description="A more recent '
            f'or stronger authentication is required", acr_values="{acr_values}", max_age="{max_age}"')}
        self.extensions = {"acr_values": acr_values, "max_age": max_age}


class InsufficientScope(DomainError):
    """The bearer token lacks a scope the operation needs (RFC 6750 section 3.1 `insufficient_scope`): a personal
    access token or a service account's token not given it, or `credentials` asked of a token that is not a
    sign-in session. 403, with the scopes needed in `WWW-Authenticate` (`scope="..."`) and as the problem's
    `scope` member."""

    status = 403
    slug = "insufficient-scope"
    title = "Insufficient scope"
    counts_as_failure = False

    def __init__(self, scope):
        super().__init__(f"This operation needs a token with the scope(s) {scope}; this token lacks some of them. "
                         "Operations on sign-in credentials (scope credentials) need a signed-in session.")
        self.headers = {"WWW-Authenticate": (
            'Bearer realm="gatehouse", error="insufficient_scope", error_description="The access token lacks a '
            f'scope this operation needs", scope="{scope}"')}
        self.extensions = {"scope": scope}


class MfaEnrolmentRequired(DomainError):
    """REQUIRE_MFA_FOR_ADMINS: an admin without a second factor may only enrol one (and read their account, sign
    out). 403."""

    status = 403
    slug = "mfa-enrolment-required"
    title = "Second factor enrolment required"

    def __init__(self):
        super().__init__("Accounts with the admin role must have a second factor: enrol one (POST "
                         "/api/v1/users/me/mfa/totp or /users/me/passkeys/options) before anything else.")


class FactorStateConflict(DomainError):
    """The factor is not in the state the operation needs: TOTP already active when enrolling, no pending
    enrolment to confirm, no TOTP to disable. 409."""

    status = 409
    slug = "factor-state-conflict"
    title = "Second factor in another state"


class InvalidPasskeyResponse(DomainError):
    """A WebAuthn registration or authentication response that does not verify (challenge, origin, RP ID, user
    verification, signature, sign counter), names an unknown or deleted credential, or answers an expired or used
    ceremony. 400 for a registration; 401 for a sign-in (`status` given)."""

    status = 400
    slug = "invalid-passkey-response"
    title = "Invalid passkey response"

    def __init__(self, detail, status=None):
        super().__init__(detail, errors={"credential": [detail]})
        if status is not None:
            self.status = status
            self.headers = {"WWW-Authenticate": 'Bearer realm="gatehouse"'} if status == 401 else {}
