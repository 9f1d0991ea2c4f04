"""The read side of users: the `UserRow` read model and the prepared Core statements of the hot read paths (the
caller on every authenticated request, one user, a page of users, login's credential lookup). One Core query each on
the request's read connection (`read_connection()`, outside the zope transaction), no ORM identity map or unit of
work: skipping them is most of the hot paths' speed (docs/performance.md).

`UserRow` carries what the API shows of a user plus what authentication checks (token_version), and is built from
a single SELECT whose roles come from a correlated `group_concat` over user_roles. Writes keep using the `User`
entity; both expose the same attribute names, so the same DTOs serialize either.
"""
from dataclasses import dataclass

from sqlalchemy import and_, bindparam, func, or_, select

from app.entities.session import AuthSession
from app.entities.user import DerivedUserFacts, RoleGrant, User, normalize_email
from app.extensions import read_connection
from app.queries.pagination import DEFAULT_PAGE_SIZE, paginate, sort_orders


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
    mfa_enabled: bool = False
    sign_in_alerts: bool = False

    @classmethod
    def from_row(cls, row):
        """Build from a row of the statements below."""
        return cls(row.id, row.email, row.name, sorted(row.roles.split(",")) if row.roles else [], row.is_active,
                   row.created_at, row.updated_at, row.token_version, row.email_verified_at, row.mfa_enabled,
                   row.sign_in_alerts)


_USERS = User.__table__
_GRANTS = RoleGrant.__table__
# Core columns (not ORM attributes): the statement skips the ORM's compile and load machinery entirely.
_ROLES = (select(func.group_concat(_GRANTS.c.role)).where(_GRANTS.c.user_id == _USERS.c.id)
          .correlate(_USERS).scalar_subquery().label("roles"))
_COLUMNS = (_USERS.c.id, _USERS.c.email, _USERS.c.name, _ROLES, _USERS.c.is_active, _USERS.c.created_at,
            _USERS.c.updated_at, _USERS.c.token_version, _USERS.c.email_verified_at, _USERS.c.mfa_enabled,
            _USERS.c.sign_in_alerts)  # a new column goes last, as its UserRow field (from_row builds positionally)
# Built once: a prepared statement's cache key is computed once, not on every request.
USER_COLUMNS = _COLUMNS  # what a UserRow is built from (app/queries/credentials.py joins them to a token's)
_BY_ID = select(*_COLUMNS).where(_USERS.c.id == bindparam("user_id"))
_SESSIONS = AuthSession.__table__.c
# Authentication: the user, only while the session named by the access token belongs to them and is not revoked,
# with when the session was last used (app/services/activity.py refreshes that at most once a minute).
_BY_ID_IN_SESSION = (select(*_COLUMNS, _SESSIONS.last_used_at.label("session_last_used_at"))
                     .join_from(_USERS, _SESSIONS.id.table, and_(
                         _SESSIONS.id == bindparam("session_id"), _SESSIONS.user_id == _USERS.c.id,
                         _SESSIONS.revoked_at.is_(None)))
                     .where(_USERS.c.id == bindparam("user_id")))


# Step-up: when and how strongly a session was last authenticated.
_AUTHENTICATION = select(_SESSIONS.auth_time, _SESSIONS.acr).where(
    _SESSIONS.id == bindparam("session_id"), _SESSIONS.revoked_at.is_(None))

_CREDENTIALS = select(_USERS.c.id, _USERS.c.password_hash, _USERS.c.is_active, _USERS.c.token_version).where(
    _USERS.c.email == bindparam("email"))

# The sorts GET /users offers; each is served by an index on (column, id) (see app/entities/user.py). Email is
# unique, so it is its own tiebreak: MySQL/MariaDB do not extend a UNIQUE index with the primary key, and
# "ORDER BY email, id" would scan and sort the whole table.
USER_SORTS = {
    **sort_orders(_USERS.c.id, id=_USERS.c.id, created_at=_USERS.c.created_at, name=_USERS.c.name),
    **sort_orders(_USERS.c.email, email=_USERS.c.email),
}
# With a role filter, id order is taken from user_roles (role, user_id): the index yields the page directly, where
# ordering by users.id would first collect every holder of the role.
ROLE_FILTERED_SORTS = {
    **USER_SORTS,
    **sort_orders(_GRANTS.c.user_id, attrs=("id", "id"), id=_GRANTS.c.user_id),
}


class UserQueries:
    """Reads of users on the request's read connection. Stateless: bind as singleton."""

    def by_id(self, user_id):
        """The UserRow of `user_id`, or None (one query)."""
        row = read_connection().execute(_BY_ID, {"user_id": user_id}).first()
        return None if row is None else UserRow.from_row(row)

    def in_session(self, user_id, session_id):
        """(UserRow of `user_id`, when session `session_id` was last used: an aware datetime) if that session is
        theirs and not revoked, else None (one query)."""
        row = read_connection().execute(_BY_ID_IN_SESSION, {"user_id": user_id, "session_id": session_id}).first()
        return None if row is None else (UserRow.from_row(row), row.session_last_used_at)

    def authentication(self, session_id):
        """(auth_time, acr) of live session `session_id`: when the user last proved who they are in it and the
        authentication context class ("aal1", "aal2"); None when it is revoked or gone (one query)."""
        row = read_connection().execute(_AUTHENTICATION, {"session_id": session_id}).first()
        return None if row is None else (row.auth_time, row.acr)

    def credentials_by_email(self, email):
        """(id, password_hash, is_active, token_version) of the user with this normalized email, or None."""
        return read_connection().execute(_CREDENTIALS, {"email": email}).first()

    def page(self, limit=DEFAULT_PAGE_SIZE, cursor=None, sort="id", q=None, role=None, is_active=None,
             created_after=None, created_before=None, include_total=False):
        """A Page of up to `limit` UserRows matching every given filter, in `sort` order (a key of USER_SORTS).

        `q`: prefix of the email or of the name (any case); `role`: holds this role; `is_active`:
        bool; `created_after` / `created_before`: aware datetimes, exclusive bounds. `cursor` continues an earlier
        page of the same query. Raises ValidationFailed for a bad cursor.
        """
        params = {"role": role, "is_active": is_active, "created_after": created_after,
                  "created_before": created_before}
        if q:
            params.update(_prefix_params("email", normalize_email(q)), **_prefix_params("name_key", q.lower()))

        def build():
            query = select(*_COLUMNS)
            if q:
                query = query.where(or_(_prefix_of(_USERS.c.email, "email"), _prefix_of(_USERS.c.name_key, "name_key")))
            if role is not None:
                query = query.join(_GRANTS, and_(_GRANTS.c.user_id == _USERS.c.id, _GRANTS.c.role == bindparam("role")))
            if is_active is not None:
                query = query.where(_USERS.c.is_active == bindparam("is_active"))
            if created_after is not None:
                query = query.where(_USERS.c.created_at > bindparam("created_after"))
            if created_before is not None:
                query = query.where(_USERS.c.created_at < bindparam("created_before"))
            return query

        sorts = USER_SORTS if role is None else ROLE_FILTERED_SORTS
        return paginate(build, params, sorts[sort], limit, cursor, include_total, item=UserRow.from_row)


def _prefix_of(column, name):
    """`column` starts with the prefix in the bind parameters `<name>_low`/`<name>_high` (see _prefix_params), as
    a range: served by an index on any database, unlike a case-insensitive LIKE."""
    return and_(column >= bindparam(f"{name}_low"), column < bindparam(f"{name}_high"))


def _prefix_params(name, prefix):
    """Bind values for _prefix_of: prefix <= column < prefix followed by the highest code point."""
    return {f"{name}_low": prefix, f"{name}_high": prefix + "\U0010ffff"}
