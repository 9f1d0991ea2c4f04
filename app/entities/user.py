"""The User entity and its role grants."""
import hashlib
import secrets

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint, event
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship, validates

from app.entities.types import UTCDateTime, binary_string, utcnow
from app.extensions import db

EMAIL_MAX_LENGTH = 254  # RFC 5321 path limit
NAME_MAX_LENGTH = 100
ROLE_MAX_LENGTH = 32


def normalize_email(email):
    """The stored form of an email: stripped and lower-cased, so uniqueness is case-insensitive. The one definition:
    storage, lookups, the password-equals-email rule and the per-account rate-limit key all use it."""
    return email.strip().lower()


def version_tag(user_id, updated_at):
    """The opaque version of a user (its ETag): changes whenever `updated_at` does, which every write sets."""
    return hashlib.sha256(f"{user_id}:{updated_at.isoformat()}".encode()).hexdigest()[:32]


class DerivedUserFacts:
    """What the User entity and the UserRow read model derive alike from their columns."""

    __slots__ = ()

    @property
    def version_tag(self):
        """An opaque string that changes whenever the user changes (every write sets `updated_at`): the ETag."""
        return version_tag(self.id, self.updated_at)

    @property
    def email_verified(self):
        """True once the owner proved they receive mail at `email`."""
        return self.email_verified_at is not None


class RoleGrant(db.Model):
    """One role held by one user: a row in `user_roles`."""

    __tablename__ = "user_roles"
    __table_args__ = (Index(None, "role", "user_id"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(ROLE_MAX_LENGTH), primary_key=True)


class User(DerivedUserFacts, db.Model):
    """An account. `email` is stored normalized (stripped, lower-cased), which makes it unique case-insensitively.

    `password_hash` is an argon2id PHC string, or None for accounts that can only sign in through a provider.
    `token_version` is embedded in every access token; raising it invalidates the tokens issued before.
    """

    __tablename__ = "users"
    # Indexes serve the list filters and sorts with keyset pagination: (column, id) for each sort key.
    # The unique index on email serves email sorts and prefix search (InnoDB appends the primary key to it).
    __table_args__ = (
        UniqueConstraint("email"),
        Index(None, "created_at", "id"),
        Index(None, "name", "id"),
        Index(None, "name_key", "id"),
        Index(None, "is_active", "id"),
        # SQLite: ids are never reused, as on MySQL/MariaDB (without it SQLite hands out the highest deleted id again,
        # and a new account would inherit the deleted one's audit trail).
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Compared byte for byte: MySQL's default collations would treat "bóss@" and "boss@" (or ß and ss) as one
    # address. Case-insensitivity comes from storing the normalized (lower-cased) form.
    email: Mapped[str] = mapped_column(binary_string(EMAIL_MAX_LENGTH), nullable=False)
    name: Mapped[str] = mapped_column(String(NAME_MAX_LENGTH), nullable=False)
    # The lower-cased name, kept by `_keep_name_key`: prefix search compares it as a range on its own index, which
    # works alike on every database (SQLite's LIKE is case-insensitive only by scanning). Lower-casing can lengthen
    # a name ("İ" -> "i̇"), hence the wider column.
    name_key: Mapped[str] = mapped_column(binary_string(2 * NAME_MAX_LENGTH), nullable=False)
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    # When the owner proved they receive mail at `email` (a mailed token or a provider's verified claim); cleared
    # when the email changes.
    email_verified_at = mapped_column(UTCDateTime, nullable=True)
    # Starts random: a token of a deleted user can never match a new user who is given the same id (SQLite reuses
    # the highest rowid; older MySQL reset AUTO_INCREMENT on restart).
    token_version: Mapped[int] = mapped_column(Integer, nullable=False, default=lambda: secrets.randbelow(2**30))
    # True while the account has an active second factor (a confirmed TOTP authenticator or a passkey): then a
    # password or social sign-in asks for it (app/services/mfa.py keeps this in step with the factors).
    mfa_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # Opt-in (PATCH /users/me): mail the owner when a sign-in comes from a device none of their sessions came from.
    sign_in_alerts: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    # Moved by `_touch_changed_users` whenever the user changes, role grants included: the ETag follows it.
    updated_at = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    # Joined eagerly: the caller and its roles come back in one query on every authenticated request.
    grants: Mapped[list[RoleGrant]] = relationship(
        lazy="joined", cascade="all, delete-orphan", passive_deletes=True, order_by=RoleGrant.role)

    @validates("name")
    def _keep_name_key(self, _key, name):
        self.name_key = name.lower()
        return name

    @property
    def roles(self):
        """The user's role names, sorted."""
        return sorted(grant.role for grant in self.grants)

    @roles.setter
    def roles(self, names):
        wanted = set(names)
        self.grants = [g for g in self.grants if g.role in wanted] + [
            RoleGrant(role=name) for name in sorted(wanted - {g.role for g in self.grants})]

    def revoke_tokens(self):
        """Invalidate every access token issued to this user so far (sessions are ended by the SessionService)."""
        self.token_version += 1

    def __repr__(self):
        return f"<User {self.id} {self.email!r}>"


@event.listens_for(Session, "before_flush")
def _touch_changed_users(session, _flush_context, _instances):
    """Set `updated_at` (and so the ETag, `version_tag`) on every User whose columns or role grants changed in this
    flush: the one place that rule lives. A column `onupdate` would miss a change to the grants alone (rows of
    user_roles), and a value set to what it already was changes nothing, the ETag included."""
    now = None
    for instance in session.dirty:
        if isinstance(instance, User) and session.is_modified(instance):
            now = now or utcnow()
            instance.updated_at = now
