"""Links between a user and an account at an OpenID Connect provider (the provider's `iss` + `sub`)."""
from sqlalchemy import ForeignKey, Integer, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.entities.types import UTCDateTime, binary_string, utcnow
from app.extensions import db

PROVIDER_MAX_LENGTH = 32  # the column; configured provider names are at most 24 ("social:<name>" fits a session)
SUBJECT_MAX_LENGTH = 255  # OpenID Connect Core 2: `sub` is at most 255 ASCII characters


class SocialIdentity(db.Model):
    """The user that provider `provider`'s subject `subject` signs in as. One per (provider, subject), and one per
    (user, provider): an account is linked to at most one account of each provider. Both compared byte for byte
    (`sub` is case-sensitive, OpenID Connect Core 2)."""

    __tablename__ = "social_identities"
    __table_args__ = (UniqueConstraint("provider", "subject"), UniqueConstraint("user_id", "provider"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    provider: Mapped[str] = mapped_column(binary_string(PROVIDER_MAX_LENGTH), nullable=False)
    subject: Mapped[str] = mapped_column(binary_string(SUBJECT_MAX_LENGTH), nullable=False)
    created_at = mapped_column(UTCDateTime, nullable=False, default=utcnow)
