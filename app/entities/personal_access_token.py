"""Personal access tokens: long-lived bearer tokens a user mints for scripts and CI jobs, limited to scopes.

The token itself is `TOKEN_PREFIX` followed by random characters and a checksum (app/services/personal_tokens.py);
only its SHA-256 digest is stored (a 190-bit random value needs no slow hash), with a short non-secret `hint` (the
prefix and first characters) so owners can tell their tokens apart in a list.
"""
from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.entities.audit_event import IP_MAX_LENGTH
from app.entities.scope import SCOPE_MAX_LENGTH, parse_scopes
from app.entities.session import REVOKE_REASON_MAX_LENGTH, TOKEN_DIGEST_LENGTH
from app.entities.types import UTCDateTime, utcnow
from app.extensions import db

TOKEN_NAME_MAX_LENGTH = 100
TOKEN_HINT_MAX_LENGTH = 24


class PersonalAccessToken(db.Model):
    """One personal access token of one user. Usable while unrevoked, unexpired and its owner active.

    `last_used_at` / `last_used_from` (an IP address) are refreshed at most once per ACTIVITY_INTERVAL (a minute),
    not on every request. `revoked_at` is set by the owner's or an admin's revocation, or by what signs the owner out
    everywhere (deactivation, a removed role, logout-all, a password reset when PAT_REVOKE_ON_PASSWORD_RESET);
    `revoke_reason` says which.
    """

    __tablename__ = "personal_access_tokens"
    __table_args__ = (Index(None, "user_id", "id"), Index(None, "expires_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(String(TOKEN_NAME_MAX_LENGTH), nullable=False)
    token_digest: Mapped[str] = mapped_column(String(TOKEN_DIGEST_LENGTH), nullable=False, unique=True)
    hint: Mapped[str] = mapped_column(String(TOKEN_HINT_MAX_LENGTH), nullable=False)
    scope: Mapped[str] = mapped_column(String(SCOPE_MAX_LENGTH), nullable=False)  # RFC 6749 3.3: space-separated
    created_at = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    expires_at = mapped_column(UTCDateTime, nullable=False)
    last_used_at = mapped_column(UTCDateTime, nullable=True)
    last_used_from: Mapped[str | None] = mapped_column(String(IP_MAX_LENGTH), nullable=True)
    revoked_at = mapped_column(UTCDateTime, nullable=True)
    revoke_reason: Mapped[str | None] = mapped_column(String(REVOKE_REASON_MAX_LENGTH), nullable=True)

    @property
    def scopes(self):
        """The token's scopes, a frozenset of Scope."""
        return parse_scopes(self.scope)

    @property
    def is_revoked(self):
        return self.revoked_at is not None

    def revoke(self, reason, now=None):
        """Mark revoked (idempotent: the first reason stays)."""
        if self.revoked_at is None:
            self.revoked_at = now or utcnow()
            self.revoke_reason = reason[:REVOKE_REASON_MAX_LENGTH]
