"""Single-use, time-limited tokens mailed to users: email verification and password reset.

Stored as SHA-256 digests of 256-bit random values. Issuing a token of a purpose supersedes (deletes) the user's
earlier ones of that purpose; using one deletes it. So a used, superseded or expired token is simply not found.
"""
import enum

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.entities.session import TOKEN_DIGEST_LENGTH
from app.entities.types import UTCDateTime, utcnow
from app.extensions import db


class TokenPurpose(enum.StrEnum):
    """What a one-time token may be used for."""

    VERIFY_EMAIL = "verify_email"
    RESET_PASSWORD = "reset_password"  # noqa: S105  (a purpose name, not a password)


class OneTimeToken(db.Model):
    """A mailed token. `email` is the address it was sent to: a verification token proves that address only."""

    __tablename__ = "one_time_tokens"
    __table_args__ = (Index(None, "user_id", "purpose"), Index(None, "expires_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    purpose: Mapped[str] = mapped_column(String(32), nullable=False)
    token_digest: Mapped[str] = mapped_column(String(TOKEN_DIGEST_LENGTH), nullable=False, unique=True)
    email: Mapped[str] = mapped_column(String(254), nullable=False)
    created_at = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    expires_at = mapped_column(UTCDateTime, nullable=False)
