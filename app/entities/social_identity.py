"""Links between a user and an account at an OpenID Connect provider (the provider's `iss` + `sub`)."""
from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.entities.types import UTCDateTime, utcnow
from app.extensions import db

PROVIDER_MAX_LENGTH = 32
SUBJECT_MAX_LENGTH = 255  # OpenID Connect Core 2: `sub` is at most 255 ASCII characters


class SocialIdentity(db.Model):
    """The user that provider `provider`'s subject `subject` signs in as. One per (provider, subject)."""

    __tablename__ = "social_identities"
    __table_args__ = (UniqueConstraint("provider", "subject"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    provider: Mapped[str] = mapped_column(String(PROVIDER_MAX_LENGTH), nullable=False)
    subject: Mapped[str] = mapped_column(String(SUBJECT_MAX_LENGTH), nullable=False)
    created_at = mapped_column(UTCDateTime, nullable=False, default=utcnow)
