"""A read model of User for the hot read paths: one Core query, no ORM identity map or unit of work.

`UserRow` carries what the API shows of a user plus what authentication checks (token_version), and is built from
a single SELECT whose roles come from a correlated `group_concat` over user_roles. Writes keep using the `User`
entity; both expose the same attribute names, so the same DTOs serialize either.
"""
from dataclasses import dataclass

from sqlalchemy import and_, bindparam, exists, func, select

from app.entities.session import AuthSession
from app.entities.user import DerivedUserFacts, RoleGrant, User


@dataclass(slots=True)
class UserRow(DerivedUserFacts):
    """A user as read for a response or an authentication. `roles` is a sorted list of role names. Treat as
    read-only (not frozen only because frozen dataclasses cost ~3x to build, and lists build 20 a request)."""

    id: int
    email: str
    name: str
    roles: list
    is_active: bool
    created_at: object
    updated_at: object
    token_version: int
    email_verified_at: object = None

    @classmethod
    def from_row(cls, row):
        """Build from a row of `user_rows()`."""
        return cls(row.id, row.email, row.name, sorted(row.roles.split(",")) if row.roles else [], row.is_active,
                   row.created_at, row.updated_at, row.token_version, row.email_verified_at)


_USERS = User.__table__
_GRANTS = RoleGrant.__table__
# Core columns (not ORM attributes): the statement skips the ORM's compile and load machinery entirely.
_ROLES = (select(func.group_concat(_GRANTS.c.role)).where(_GRANTS.c.user_id == _USERS.c.id)
          .correlate(_USERS).scalar_subquery().label("roles"))
_COLUMNS = (_USERS.c.id, _USERS.c.email, _USERS.c.name, _ROLES, _USERS.c.is_active, _USERS.c.created_at,
            _USERS.c.updated_at, _USERS.c.token_version, _USERS.c.email_verified_at)
# Built once: a prepared statement's cache key is computed once, not on every request.
_BY_ID = select(*_COLUMNS).where(_USERS.c.id == bindparam("user_id"))
_SESSIONS = AuthSession.__table__.c
# Authentication: the user, only while the session named by the access token belongs to them and is not revoked.
_BY_ID_IN_SESSION = _BY_ID.where(exists().where(and_(
    _SESSIONS.id == bindparam("session_id"), _SESSIONS.user_id == _USERS.c.id, _SESSIONS.revoked_at.is_(None))))


def user_rows():
    """`SELECT` of the UserRow columns from users (add WHERE, ORDER BY, LIMIT); roles come in the same query."""
    return select(*_COLUMNS)


def user_row_by_id(connection, user_id):
    """The UserRow of `user_id`, or None: one query on `connection` (a Core Connection)."""
    row = connection.execute(_BY_ID, {"user_id": user_id}).first()
    return None if row is None else UserRow.from_row(row)


def user_row_in_session(connection, user_id, session_id):
    """The UserRow of `user_id` if session `session_id` is theirs and not revoked, else None (one query)."""
    row = connection.execute(_BY_ID_IN_SESSION, {"user_id": user_id, "session_id": session_id}).first()
    return None if row is None else UserRow.from_row(row)


_CREDENTIALS = select(_USERS.c.id, _USERS.c.password_hash, _USERS.c.is_active, _USERS.c.token_version).where(
    _USERS.c.email == bindparam("email"))


def credentials_by_email(connection, email):
    """(id, password_hash, is_active, token_version) of the user with this normalized email, or None."""
    return connection.execute(_CREDENTIALS, {"email": email}).first()
