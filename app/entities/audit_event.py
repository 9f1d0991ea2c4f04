"""The audit trail: security events, written in the transaction of the change they describe.

`user_id` is the account the event is about (None when unknown, e.g. a failed login for an unregistered email);
`actor_id` the user who caused it when that is someone else (an admin). Neither is a foreign key: the trail outlives
deleted accounts. `details` is a small JSON object, never a secret or a password.
"""
import enum

from sqlalchemy import JSON, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.entities.types import UTCDateTime, utcnow
from app.extensions import db

IP_MAX_LENGTH = 45  # an IPv6 address in text form
USER_AGENT_MAX_LENGTH = 255


class AuditEventType(enum.StrEnum):
    """The kinds of security event recorded."""

    USER_REGISTERED = "user.registered"
    LOGIN_SUCCEEDED = "login.succeeded"
    LOGIN_FAILED = "login.failed"
    REFRESH_TOKEN_REUSED = "refresh_token.reused"  # noqa: S105  (an event name)
    LOGOUT = "logout"
    LOGOUT_ALL = "logout.all"
    PASSWORD_CHANGED = "password.changed"  # noqa: S105
    PASSWORD_RESET_REQUESTED = "password.reset_requested"  # noqa: S105
    PASSWORD_RESET = "password.reset"  # noqa: S105
    EMAIL_VERIFIED = "email.verified"
    EMAIL_CHANGED = "email.changed"
    ROLES_CHANGED = "user.roles_changed"
    ACTIVATION_CHANGED = "user.activation_changed"
    USER_DELETED = "user.deleted"
    SOCIAL_LINKED = "social.linked"
    # Second factors (app/services/mfa.py, app/services/passkeys.py)
    MFA_TOTP_ENROLLED = "mfa.totp_enrolled"
    MFA_TOTP_DISABLED = "mfa.totp_disabled"
    MFA_RECOVERY_CODES_GENERATED = "mfa.recovery_codes_generated"
    MFA_RECOVERY_CODE_USED = "mfa.recovery_code_used"
    MFA_CHALLENGE_ISSUED = "mfa.challenge_issued"
    MFA_SUCCEEDED = "mfa.succeeded"
    MFA_FAILED = "mfa.failed"
    MFA_RESET = "mfa.reset"
    PASSKEY_REGISTERED = "passkey.registered"
    PASSKEY_DELETED = "passkey.deleted"
    PASSKEY_LOGIN_FAILED = "passkey.login_failed"
    REAUTHENTICATED = "reauthenticated"
    # Machine credentials (app/services/personal_tokens.py, app/services/service_accounts.py)
    PERSONAL_TOKEN_CREATED = "personal_access_token.created"  # noqa: S105  (event names)
    PERSONAL_TOKEN_REVOKED = "personal_access_token.revoked"  # noqa: S105
    PERSONAL_TOKEN_NEW_ADDRESS = "personal_access_token.new_address"  # noqa: S105
    SERVICE_ACCOUNT_CREATED = "service_account.created"
    SERVICE_ACCOUNT_DELETED = "service_account.deleted"
    SERVICE_ACCOUNT_SECRET_ADDED = "service_account.secret_added"  # noqa: S105
    SERVICE_ACCOUNT_SECRET_DELETED = "service_account.secret_deleted"  # noqa: S105
    CLIENT_AUTHENTICATION_FAILED = "client_credentials.failed"

    @classmethod
    def values(cls):
        return [member.value for member in cls]


class AuditEvent(db.Model):
    """One security event."""

    __tablename__ = "audit_events"
    # Served by the list filters: newest first, by user and by type.
    __table_args__ = (Index(None, "user_id", "id"), Index(None, "type", "id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    type: Mapped[str] = mapped_column(String(48), nullable=False)
    user_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    actor_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    ip_address: Mapped[str | None] = mapped_column(String(IP_MAX_LENGTH), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(String(USER_AGENT_MAX_LENGTH), nullable=True)
    details: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    created_at = mapped_column(UTCDateTime, nullable=False, default=utcnow)
