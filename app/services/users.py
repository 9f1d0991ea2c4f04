"""Account use cases: register, read, list, update and delete users.

Each writing method is one unit of work (app/unit_of_work.py): all of it commits, or none of it does; it locks the
account's row before anything else and runs again if it loses a lock race. Methods take and return plain values and
`User` entities; the controllers turn them into JSON through the DTOs.
"""
from injector import inject
from sqlalchemy import and_, bindparam, or_, select

from app.entities import DEFAULT_ROLES, AuditEventType, Role, RoleGrant, User
from app.entities.user import EMAIL_MAX_LENGTH, normalize_email
from app.entities.user_row import UserRow, user_row_by_id, user_rows
from app.errors import (
    AccountGone,
    ReauthenticationRequired,
    SelfLockout,
    UserNotFound,
    ValidationFailed,
    VersionMismatch,
)
from app.extensions import db, read_connection
from app.services.audit import NO_CLIENT, AuditService
from app.services.events import UserEvents
from app.services.pagination import DEFAULT_PAGE_SIZE, paginate, sort_orders
from app.services.passwords import PasswordService
from app.services.sessions import SessionService
from app.unit_of_work import lock_user, lock_user_by_email, locked_new_user, run, unit_of_work


def storable_email(email):
    """normalize_email, refused (ValidationFailed) when lower-casing made it longer than the column ("İ" -> "i̇")."""
    email = normalize_email(email)
    if len(email) > EMAIL_MAX_LENGTH:
        raise ValidationFailed({"email": [f"Longer than {EMAIL_MAX_LENGTH} characters."]})
    return email


# Core columns of the two tables: list queries are pure Core (no ORM compile/load on the hot read path).
_USERS = User.__table__.c
_GRANTS = RoleGrant.__table__.c
# The sorts GET /users offers; each is served by an index on (column, id) (see app/entities/user.py). Email is
# unique, so it is its own tiebreak: MySQL/MariaDB do not extend a UNIQUE index with the primary key, and
# "ORDER BY email, id" would scan and sort the whole table.
USER_SORTS = {
    **sort_orders(_USERS.id, id=_USERS.id, created_at=_USERS.created_at, name=_USERS.name),
    **sort_orders(_USERS.email, email=_USERS.email),
}
# With a role filter, id order is taken from user_roles (role, user_id): the index yields the page directly, where
# ordering by users.id would first collect every holder of the role.
ROLE_FILTERED_SORTS = {
    **USER_SORTS,
    **sort_orders(_GRANTS.user_id, attrs=("id", "id"), id=_GRANTS.user_id),
}


class UserService:
    """User accounts. Stateless apart from its collaborators: bind as singleton."""

    @inject
    def __init__(self, passwords: PasswordService, events: UserEvents, sessions: SessionService,
                 audit: AuditService):
        self.passwords = passwords
        self.events = events
        self.sessions = sessions
        self.audit = audit

    # --- reads -----------------------------------------------------------------------------------------------
    def get(self, user_id):
        """Return the user with `user_id` as a UserRow (read model: one query, no ORM). Raises UserNotFound."""
        user = user_row_by_id(read_connection(), user_id)
        if user is None:
            raise UserNotFound(f"No user has id {user_id}.")
        return user

    @staticmethod
    def _get_for_update(user_id, expected_versions, gone=None):
        """Lock and return the User (inside a unit of work). `expected_versions`: None, or the version tags the
        client accepts (If-Match). Raises `gone` when no user has the id (default UserNotFound), VersionMismatch."""
        user = lock_user(user_id)
        if user is None:
            raise gone or UserNotFound(f"No user has id {user_id}.")
        if expected_versions is not None and user.version_tag not in expected_versions:
            raise VersionMismatch()
        return user

    def find_by_email(self, email):
        """Return the User with this email (any case), or None."""
        return db.session.scalars(select(User).where(User.email == normalize_email(email))).unique().first()

    def list(self, limit=DEFAULT_PAGE_SIZE, cursor=None, sort="id", q=None, role=None, is_active=None,
             created_after=None, created_before=None, include_total=False):
        """Return a Page of up to `limit` UserRows matching every given filter, in `sort` order (USER_SORTS).

        `q`: prefix of the email or the name; `role`: holds this role; `is_active`: bool; `created_after` /
        `created_before`: aware datetimes, exclusive bounds. `cursor` continues an earlier page of the same query.
        Raises ValidationFailed for a bad cursor.
        """
        params = {"role": role, "is_active": is_active, "created_after": created_after,
                  "created_before": created_before}
        if q:
            params.update(_prefix_params("email", normalize_email(q)), **_prefix_params("name_key", q.lower()))

        def build():
            query = user_rows()
            if q:
                query = query.where(or_(_prefix_of(_USERS.email, "email"), _prefix_of(_USERS.name_key, "name_key")))
            if role is not None:
                query = query.join(RoleGrant.__table__,
                                   and_(_GRANTS.user_id == _USERS.id, _GRANTS.role == bindparam("role")))
            if is_active is not None:
                query = query.where(_USERS.is_active == bindparam("is_active"))
            if created_after is not None:
                query = query.where(_USERS.created_at > bindparam("created_after"))
            if created_before is not None:
                query = query.where(_USERS.created_at < bindparam("created_before"))
            return query

        sorts = USER_SORTS if role is None else ROLE_FILTERED_SORTS
        return paginate(build, params, sorts[sort], limit, cursor, include_total, item=UserRow.from_row)

    # --- writes ----------------------------------------------------------------------------------------------
    def create(self, email, name, password=None, roles=DEFAULT_ROLES, is_active=True, actor_id=None,
               client=NO_CLIENT, email_verified_at=None):
        """Create an account: a self-registration (the defaults: active, the default roles), or an admin's (who may
        set roles and activation, and leave the password out). Tells `UserEvents` (by default: mails a verification
        token when the email is unverified) and records `user.registered`. Returns the User.

        Raises ValidationFailed (password policy) or EmailTaken. If `UserEvents` raises, nothing is written.
        """
        email = storable_email(email)
        password_hash = None
        if password is not None:
            self.passwords.check_policy(password, email)
            password_hash = self.passwords.hash(password)  # slow: hashed before the unit of work begins

        def create():
            user = add_user(email, name, password_hash, roles, is_active, email_verified_at)
            self.audit.record(AuditEventType.USER_REGISTERED, user.id, client, actor_id=actor_id,
                              roles=user.roles)
            self.events.user_created(user)
            return user
        return run(create, "UserService.create")

    def update_me(self, user_id, name=None, password=None, current_password=None, expected_versions=None,
                  client=NO_CLIENT):
        """Change the caller's own name and/or password. Returns the User.

        Changing the password needs `current_password`, ends every session of the user (this one too: sign in
        again) and records `password.changed`.
        Raises ReauthenticationRequired (missing or wrong current password), ValidationFailed (policy),
        AccountGone (deleted meanwhile), VersionMismatch.
        """
        def update_me():
            user = self._get_for_update(user_id, expected_versions, gone=AccountGone())
            if password is not None:
                if current_password is None:
                    raise ReauthenticationRequired("Required to change the password.")
                # Checked under the row lock: of two changes made with the same current password, the second finds
                # the first one's new hash here and is refused.
                if not self.passwords.verify(user.password_hash, current_password):
                    raise ReauthenticationRequired("Incorrect password.", wrong_password=True)
                self._set_password(user, password, client)
            if name is not None:
                user.name = name
            return user

        try:
            return run(update_me, "UserService.update_me")
        except ReauthenticationRequired as error:
            if error.wrong_password:  # a password guess, like a failed login: audited (and rate limited)
                run(lambda: self.audit.record(AuditEventType.LOGIN_FAILED, user_id, client, method="reauthentication"),
                    "UserService.update_me.audit")
            raise

    @unit_of_work
    def update(self, actor_id, user_id, expected_versions=None, client=NO_CLIENT, **changes):
        """Apply an admin's `changes` (any of name, email, password, roles, is_active) to a user. Returns the User.

        A new password, deactivation or the removal of a role ends every session of the user; an added role or a
        reactivation takes effect on the user's next request (roles are read on every request). A new email is
        unverified. Role, activation and password changes are audited with the admin as actor.
        `expected_versions`: None, or the version tags the client accepts (If-Match).
        Raises UserNotFound, EmailTaken, ValidationFailed, VersionMismatch, SelfLockout (an admin demoting or
        deactivating themselves).
        """
        user = self._get_for_update(user_id, expected_versions)
        if user.id == actor_id:
            if "roles" in changes and Role.ADMIN.value not in changes["roles"]:
                raise SelfLockout("You cannot remove your own admin role.")
            if changes.get("is_active") is False:
                raise SelfLockout("You cannot deactivate your own account.")
        if "email" in changes:
            email = storable_email(changes["email"])
            if email != user.email:  # the recovery channel moves: audited, and to be verified again
                self.audit.record(AuditEventType.EMAIL_CHANGED, user.id, client, actor_id=actor_id)
                user.email, user.email_verified_at = email, None
        if "name" in changes:
            user.name = changes["name"]
        if "roles" in changes and set(changes["roles"]) != set(user.roles):
            before = user.roles
            user.roles = changes["roles"]
            self.audit.record(AuditEventType.ROLES_CHANGED, user.id, client, actor_id=actor_id, before=before,
                              after=user.roles)
            if set(before) - set(user.roles):
                self.sessions.end_all(user.id, "roles_reduced", client, record=False)
        if "is_active" in changes and changes["is_active"] != user.is_active:
            user.is_active = changes["is_active"]
            self.audit.record(AuditEventType.ACTIVATION_CHANGED, user.id, client, actor_id=actor_id,
                              is_active=user.is_active)
            if not user.is_active:
                self.sessions.sign_out_everywhere(user, "deactivated", client)
        if changes.get("password") is not None:
            self._set_password(user, changes["password"], client, actor_id)
        return user

    def delete(self, actor_id, user_id, expected_versions=None, client=NO_CLIENT):
        """Delete a user with their role grants, sessions and links; record `user.deleted`.
        Raises UserNotFound, VersionMismatch, SelfLockout (yourself)."""
        if actor_id == user_id:
            raise SelfLockout("You cannot delete your own account.")

        def delete():
            user = self._get_for_update(user_id, expected_versions)
            self.audit.record(AuditEventType.USER_DELETED, user.id, client, actor_id=actor_id)
            db.session.delete(user)
        run(delete, "UserService.delete")

    def ensure_admin(self, email, name, password=None):
        """Create an admin account, or grant the admin role to the existing account with this email.

        Returns (User, created). An existing account keeps its password (re-running a bootstrap must not undo a
        password change); a new one gets `password` (checked against the policy) or none.
        """
        def promote():
            user = lock_user_by_email(normalize_email(email))
            if user is not None:
                before = user.roles
                user.roles = set(before) | {Role.ADMIN.value}
                if user.roles != before:
                    self.audit.record(AuditEventType.ROLES_CHANGED, user.id, before=before, after=user.roles,
                                      source="cli")
            return user

        user = run(promote, "UserService.ensure_admin")
        if user is not None:
            return user, False
        return self.create(email, name, password, roles=(Role.USER.value, Role.ADMIN.value)), True

    def _set_password(self, user, password, client, actor_id=None):
        """Set a new password (policy checked), end every session of the user, record `password.changed`."""
        self.passwords.check_policy(password, user.email)
        user.password_hash = self.passwords.hash(password)
        self.sessions.sign_out_everywhere(user, "password_changed", client)
        self.audit.record(AuditEventType.PASSWORD_CHANGED, user.id, client, actor_id=actor_id)


def _prefix_of(column, name):
    """`column` starts with the prefix in the bind parameters `<name>_low`/`<name>_high` (see _prefix_params), as
    a range: served by an index on any database, unlike a case-insensitive LIKE."""
    return and_(column >= bindparam(f"{name}_low"), column < bindparam(f"{name}_high"))


def _prefix_params(name, prefix):
    """Bind values for _prefix_of: prefix <= column < prefix followed by the highest code point."""
    return {f"{name}_low": prefix, f"{name}_high": prefix + "\U0010ffff"}


def add_user(email, name, password_hash=None, roles=DEFAULT_ROLES, is_active=True, email_verified_at=None):
    """Add a new User (email already normalized) to the current unit of work and flush it, so it has an id; the
    unit of work holds its row (lock_user's order). A taken email raises EmailTaken from the unit of work."""
    user = User(email=email, name=name, password_hash=password_hash, is_active=is_active, grants=[],
                email_verified_at=email_verified_at)
    user.roles = roles
    db.session.add(user)
    db.session.flush()
    return locked_new_user(user)
