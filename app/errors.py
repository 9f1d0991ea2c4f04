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
