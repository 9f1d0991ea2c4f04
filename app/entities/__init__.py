"""SQLAlchemy entities. Importing this package registers every table on `db.metadata` (Alembic reads it)."""
from app.entities.audit_event import AuditEvent, AuditEventType
from app.entities.one_time_token import OneTimeToken, TokenPurpose
from app.entities.role import DEFAULT_ROLES, Role
from app.entities.session import AuthSession, RefreshToken
from app.entities.social_identity import SocialIdentity
from app.entities.user import RoleGrant, User

__all__ = ["DEFAULT_ROLES", "AuditEvent", "AuditEventType", "AuthSession", "OneTimeToken", "RefreshToken", "Role",
           "RoleGrant", "SocialIdentity", "TokenPurpose", "User"]
