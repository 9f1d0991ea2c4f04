"""Account use cases: register, read, list, update and delete users.

Each writing method is one unit of work (app/services/ports.py): all of it commits, or none of it does; it locks the
account's row before anything else and runs again if it loses a lock race. Reads go to the read side
(app/queries/users.py). Methods take and return plain values and
`User` entities; the controllers turn them into JSON through the DTOs.
"""
from injector import inject

from app.entities import DEFAULT_ROLES, AuditEventType, Role, User
from app.entities.user import EMAIL_MAX_LENGTH, normalize_email
from app.errors import (
    AccountGone,
    EmailTaken,
    ReauthenticationRequired,
    SelfLockout,
    UserNotFound,
    ValidationFailed,
    VersionMismatch,
)
from app.queries.pagination import DEFAULT_PAGE_SIZE
from app.queries.users import UserQueries
from app.services.account_mail import AccountMail
from app.services.audit import NO_CLIENT, AuditService
from app.services.events import UserEvents
from app.services.passwords import PasswordService
from app.services.ports import Transactions, unit_of_work
from app.services.sessions import SessionService


def storable_email(email):
    """normalize_email, refused (ValidationFailed) when lower-casing made it longer than the column ("İ" -> "i̇")."""
    email = normalize_email(email)
    if len(email) > EMAIL_MAX_LENGTH:
        raise ValidationFailed({"email": [f"Longer than {EMAIL_MAX_LENGTH} characters."]})
    return email


class UserService:
    """User accounts. Stateless apart from its collaborators: bind as singleton."""

    @inject
    def __init__(self, transactions: Transactions, queries: UserQueries, passwords: PasswordService,
                 events: UserEvents, sessions: SessionService, audit: AuditService, mail: AccountMail):
        self.transactions = transactions
        self.mail = mail
        self.queries = queries
        self.passwords = passwords
        self.events = events
        self.sessions = sessions
        self.audit = audit

    # --- reads -----------------------------------------------------------------------------------------------
    def get(self, user_id):
        """Return the user with `user_id` as a UserRow (read model: one query, no ORM). Raises UserNotFound."""
        user = self.queries.by_id(user_id)
        if user is None:
            raise UserNotFound(f"No user has id {user_id}.")
        return user

    @staticmethod
    def _get_for_update(uow, user_id, expected_versions, gone=None):
        """Lock and return the User in unit of work `uow`. `expected_versions`: None, or the version tags the
        client accepts (If-Match). Raises `gone` when no user has the id (default UserNotFound), VersionMismatch."""
        user = uow.users.lock(user_id)
        if user is None:
            raise gone or UserNotFound(f"No user has id {user_id}.")
        if expected_versions is not None and user.version_tag not in expected_versions:
            raise VersionMismatch()
        return user

    def find_by_email(self, email):
        """(id, password_hash, is_active, token_version) of the user with this email (any case), or None."""
        return self.queries.credentials_by_email(normalize_email(email))

    def list(self, limit=DEFAULT_PAGE_SIZE, cursor=None, sort="id", q=None, role=None, is_active=None,
             created_after=None, created_before=None, include_total=False):
        """Return a Page of up to `limit` UserRows matching every given filter, in `sort` order (USER_SORTS).

        `q`: prefix of the email or the name; `role`: holds this role; `is_active`: bool; `created_after` /
        `created_before`: aware datetimes, exclusive bounds. `cursor` continues an earlier page of the same query.
        Raises ValidationFailed for a bad cursor.
        """
        return self.queries.page(limit, cursor, sort, q, role, is_active,
                                 created_after, created_before, include_total)

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

        def create(uow):
            user = add_user(uow, email, name, password_hash, roles, is_active, email_verified_at)
            self.audit.record(uow, AuditEventType.USER_REGISTERED, user.id, client, actor_id=actor_id,
                              roles=user.roles)
            self.events.user_created(uow, user)
            return user
        return self.transactions.run(create, "UserService.create")

    def update_me(self, user_id, name=None, password=None, current_password=None, expected_versions=None,
                  client=NO_CLIENT, sign_in_alerts=None):
        """Change the caller's own name, password and/or `sign_in_alerts` (a bool: mail a notice of each sign-in
        from a new device, app/services/sign_in.py). Returns the User.

        Changing the password needs `current_password`, ends every session of the user (this one too: sign in
        again), records `password.changed` and mails the user a notice (AccountMail.password_changed).
        Raises ReauthenticationRequired (missing or wrong current password), ValidationFailed (policy),
        AccountGone (deleted meanwhile), VersionMismatch.
        """
        def update_me(uow):
            user = self._get_for_update(uow, user_id, expected_versions, gone=AccountGone())
            if password is not None:
                if current_password is None:
                    raise ReauthenticationRequired("Required to change the password.")
                # Checked under the row lock: of two changes made with the same current password, the second finds
                # the first one's new hash here and is refused.
                if not self.passwords.verify(user.password_hash, current_password):
                    raise ReauthenticationRequired("Incorrect password.", wrong_password=True)
                self._set_password(uow, user, password, client)
            if name is not None:
                user.name = name
            if sign_in_alerts is not None:
                user.sign_in_alerts = sign_in_alerts
            return user

        try:
            return self.transactions.run(update_me, "UserService.update_me")
        except ReauthenticationRequired as error:
            if error.wrong_password:  # a password guess, like a failed login: audited (and rate limited)
                self.transactions.run(lambda uow: self.audit.record(
                    uow, AuditEventType.LOGIN_FAILED, user_id, client, method="reauthentication"),
                    "UserService.update_me.audit")
            raise

    @unit_of_work
    def update(self, uow, actor_id, user_id, expected_versions=None, client=NO_CLIENT, **changes):
        """Apply an admin's `changes` (any of name, email, password, roles, is_active) to a user. Returns the User.

        A new password, deactivation or the removal of a role ends every session of the user; an added role or a
        reactivation takes effect on the user's next request (roles are read on every request). A new email is
        unverified; the old and the new address are both mailed a notice, and a new password is mailed to the user
        (AccountMail). Role, activation, email and password changes are audited with the admin as actor.
        `expected_versions`: None, or the version tags the client accepts (If-Match).
        Raises UserNotFound, EmailTaken, ValidationFailed, VersionMismatch, SelfLockout (an admin demoting or
        deactivating themselves).
        """
        user = self._get_for_update(uow, user_id, expected_versions)
        if user.id == actor_id:
            if "roles" in changes and Role.ADMIN.value not in changes["roles"]:
                raise SelfLockout("You cannot remove your own admin role.")
            if changes.get("is_active") is False:
                raise SelfLockout("You cannot deactivate your own account.")
        if "email" in changes:
            email = storable_email(changes["email"])
            if email != user.email:  # the recovery channel moves: audited, both addresses told, to be verified again
                taken = self.queries.credentials_by_email(email)
                if taken is not None and taken.id != user.id:  # refused before any notice is queued
                    raise EmailTaken()
                self.audit.record(uow, AuditEventType.EMAIL_CHANGED, user.id, client, actor_id=actor_id)
                old_email, user.email, user.email_verified_at = user.email, email, None
                by_admin = actor_id != user.id
                uow.outbox.send(self.mail.email_changed_old_address(user, old_email, client, by_admin=by_admin))
                uow.outbox.send(self.mail.email_changed_new_address(user, client, by_admin=by_admin))
        if "name" in changes:
            user.name = changes["name"]
        if "roles" in changes and set(changes["roles"]) != set(user.roles):
            before = user.roles
            user.roles = changes["roles"]
            self.audit.record(uow, AuditEventType.ROLES_CHANGED, user.id, client, actor_id=actor_id, before=before,
                              after=user.roles)
            if set(before) - set(user.roles):
                self.sessions.end_all(uow, user.id, "roles_reduced", client, record=False)
                self.sessions.end_personal_tokens(uow, user.id, "roles_reduced", client)
        if "is_active" in changes and changes["is_active"] != user.is_active:
            user.is_active = changes["is_active"]
            self.audit.record(uow, AuditEventType.ACTIVATION_CHANGED, user.id, client, actor_id=actor_id,
                              is_active=user.is_active)
            if not user.is_active:
                self.sessions.sign_out_everywhere(uow, user, "deactivated", client, personal_tokens=True)
        if changes.get("password") is not None:
            self._set_password(uow, user, changes["password"], client, actor_id)
        return user

    def delete(self, actor_id, user_id, expected_versions=None, client=NO_CLIENT):
        """Delete a user with their role grants, sessions and links; record `user.deleted`.
        Raises UserNotFound, VersionMismatch, SelfLockout (yourself)."""
        if actor_id == user_id:
            raise SelfLockout("You cannot delete your own account.")

        def delete(uow):
            user = self._get_for_update(uow, user_id, expected_versions)
            self.audit.record(uow, AuditEventType.USER_DELETED, user.id, client, actor_id=actor_id)
            uow.users.delete(user)
        self.transactions.run(delete, "UserService.delete")

    def ensure_admin(self, email, name, password=None):
        """Create an admin account, or grant the admin role to the existing account with this email.

        Returns (User, created). An existing account keeps its password (re-running a bootstrap must not undo a
        password change); a new one gets `password` (checked against the policy) or none.
        """
        def promote(uow):
            user = uow.users.lock_by_email(normalize_email(email))
            if user is not None:
                before = user.roles
                user.roles = set(before) | {Role.ADMIN.value}
                if user.roles != before:
                    self.audit.record(uow, AuditEventType.ROLES_CHANGED, user.id, before=before, after=user.roles,
                                      source="cli")
            return user

        user = self.transactions.run(promote, "UserService.ensure_admin")
        if user is not None:
            return user, False
        return self.create(email, name, password, roles=(Role.USER.value, Role.ADMIN.value)), True

    def _set_password(self, uow, user, password, client, actor_id=None):
        """Set a new password (policy checked), mail the user, end every session of the user, record
        `password.changed`."""
        self.passwords.check_policy(password, user.email)
        user.password_hash = self.passwords.hash(password)
        uow.outbox.send(self.mail.password_changed(user, client, by_admin=actor_id not in (None, user.id)))
        # An admin setting the password is a reset: it revokes personal access tokens too when configured so.
        by_admin = actor_id not in (None, user.id)
        self.sessions.sign_out_everywhere(uow, user, "password_changed", client,
                                          personal_tokens=by_admin and self.sessions.ends_tokens_on_reset)
        self.audit.record(uow, AuditEventType.PASSWORD_CHANGED, user.id, client, actor_id=actor_id)


def add_user(uow, email, name, password_hash=None, roles=DEFAULT_ROLES, is_active=True, email_verified_at=None):
    """Add a new User (email already normalized) to unit of work `uow`; it has its id at once and the unit of work
    holds its row (the lock order). A taken email raises EmailTaken from the unit of work."""
    user = User(email=email, name=name, password_hash=password_hash, is_active=is_active, grants=[],
                email_verified_at=email_verified_at)
    user.roles = roles
    return uow.users.add(user)
