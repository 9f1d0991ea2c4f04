"""SQLAlchemy entities. Importing this package imports every module in it, so every table is on `db.metadata` (what
Alembic's autogenerate compares) without a list to keep: a new entity module needs no line here. The names below are
re-exported for `from app.entities import User`."""
import importlib
import pkgutil

from app.entities.audit_event import AuditEvent, AuditEventType
from app.entities.one_time_token import OneTimeToken, TokenPurpose
from app.entities.role import DEFAULT_ROLES, Role
from app.entities.session import AuthSession, RefreshToken
from app.entities.social_identity import SocialIdentity
from app.entities.user import RoleGrant, User

__all__ = ["DEFAULT_ROLES", "AuditEvent", "AuditEventType", "AuthSession", "OneTimeToken", "RefreshToken", "Role",
           "RoleGrant", "SocialIdentity", "TokenPurpose", "User"]

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
