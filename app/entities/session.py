"""Sign-in sessions and their refresh tokens (a session is one refresh-token family, RFC 6819 5.2.2.3).

Every access token names its session (`sid`); revoking the session ends its access tokens and its refresh tokens at
once. Refresh tokens are stored only as SHA-256 digests: they are 256-bit random values, so a fast hash is enough.
"""
from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.entities.audit_event import IP_MAX_LENGTH, USER_AGENT_MAX_LENGTH
from app.entities.types import UTCDateTime, utcnow
from app.extensions import db

TOKEN_DIGEST_LENGTH = 64  # hex characters of a SHA-256 digest
REVOKE_REASON_MAX_LENGTH = 32
# Authentication context classes (RFC 9470 `acr`), after NIST SP 800-63B's authenticator assurance levels.
AAL1 = "aal1"  # one factor: a password, or a provider's ID token
AAL2 = "aal2"  # two factors, or a passkey used with user verification (something you have and know or are)
ACR_RANK = {AAL1: 1, AAL2: 2}


class AuthSession(db.Model):
    """One sign-in (password, social login or passkey) and everything issued from it.

    `expires_at` is the expiry of its newest refresh token; `revoked_at` is set by logout, logout-all, a password
    change or reset, deactivation, demotion, or the reuse of a spent refresh token (`revoke_reason` says which).
    """

    __tablename__ = "auth_sessions"
    __table_args__ = (Index(None, "user_id", "revoked_at"), Index(None, "expires_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    # The first factor: "password", "social:<provider>" or "passkey".
    method: Mapped[str] = mapped_column(String(32), nullable=False)
    # When the user last proved who they are in this session (sign-in, or POST /auth/reauthenticate), and how
    # strongly: the Authentication Context Class (RFC 9470) "aal1" (one factor) or "aal2" (two factors, or a passkey
    # with user verification), after NIST SP 800-63B's assurance levels. Step-up (app/services/step_up.py) reads both.
    auth_time = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    acr: Mapped[str] = mapped_column(String(8), nullable=False, default=AAL1)
    created_at = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    expires_at = mapped_column(UTCDateTime, nullable=False)
    revoked_at = mapped_column(UTCDateTime, nullable=True)
    revoke_reason: Mapped[str | None] = mapped_column(String(REVOKE_REASON_MAX_LENGTH), nullable=True)
    # Where the session is used (GET /users/me/sessions): the client's address and User-Agent at sign-in, then at
    # most once per ACTIVITY_INTERVAL (a minute) of use, with the time (app/services/activity.py).
    last_used_at = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    ip_address: Mapped[str | None] = mapped_column(String(IP_MAX_LENGTH), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(String(USER_AGENT_MAX_LENGTH), nullable=True)

    @property
    def is_revoked(self):
        return self.revoked_at is not None

    def reauthenticated(self, acr, now=None):
        """The user proved who they are again in this session, with class `acr`."""
        self.auth_time = now or utcnow()
        self.acr = acr

    def revoke(self, reason, now=None):
        """Mark revoked (idempotent: the first reason stays)."""
        if self.revoked_at is None:
            self.revoked_at = now or utcnow()
            self.revoke_reason = reason


class RefreshToken(db.Model):
    """One refresh token of a session. Spent (`spent_at`) when exchanged; a spent token presented again is reuse."""

    __tablename__ = "refresh_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("auth_sessions.id", ondelete="CASCADE"), nullable=False,
                                            index=True)
    token_digest: Mapped[str] = mapped_column(String(TOKEN_DIGEST_LENGTH), nullable=False, unique=True)
    created_at = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    expires_at = mapped_column(UTCDateTime, nullable=False)
    spent_at = mapped_column(UTCDateTime, nullable=True)
