"""SQLAlchemy entities. Importing this package registers every table on `db.metadata` (Alembic reads it)."""
from app.entities.role import DEFAULT_ROLES, Role
from app.entities.user import RoleGrant, User

__all__ = ["DEFAULT_ROLES", "Role", "RoleGrant", "User"]
