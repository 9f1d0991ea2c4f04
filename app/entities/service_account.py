"""Service accounts: machine clients without a user, registered by an admin, that obtain access tokens with the
OAuth 2.0 client credentials grant (RFC 6749 section 4.4) at POST /api/v1/oauth/token.

A service account is a confidential client: a `client_id` and up to two live secrets (`ServiceAccountSecret`), so a
secret can be rotated without downtime: add the new one, deploy it, delete the old one. Secrets are 256-bit random
values stored as SHA-256 digests.
"""
from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.entities.scope import SCOPE_MAX_LENGTH, parse_scopes
from app.entities.session import TOKEN_DIGEST_LENGTH
from app.entities.types import UTCDateTime, binary_string, utcnow
from app.extensions import db

CLIENT_ID_MAX_LENGTH = 64
SERVICE_ACCOUNT_NAME_MAX_LENGTH = 100
MAX_LIVE_SECRETS = 2  # the current secret and the one being rotated in


class ServiceAccount(db.Model):
    """A machine client. `scope`: the scopes its tokens may carry (RFC 6749 3.3 form); `created_by`: the admin."""

    __tablename__ = "service_accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(binary_string(CLIENT_ID_MAX_LENGTH), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(String(SERVICE_ACCOUNT_NAME_MAX_LENGTH), nullable=False)
    scope: Mapped[str] = mapped_column(String(SCOPE_MAX_LENGTH), nullable=False)
    created_by: Mapped[int | None] = mapped_column(Integer, nullable=True)  # not a foreign key: the admin may go
    created_at = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    @property
    def scopes(self):
        """The scopes it may be given, a frozenset of Scope."""
        return parse_scopes(self.scope)


class ServiceAccountSecret(db.Model):
    """One client secret of a service account; at most MAX_LIVE_SECRETS at a time."""

    __tablename__ = "service_account_secrets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_account_id: Mapped[int] = mapped_column(ForeignKey("service_accounts.id", ondelete="CASCADE"),
                                                    nullable=False, index=True)
    secret_digest: Mapped[str] = mapped_column(String(TOKEN_DIGEST_LENGTH), nullable=False, unique=True)
    hint: Mapped[str] = mapped_column(String(16), nullable=False)  # the first characters, to tell secrets apart
    created_at = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    last_used_at = mapped_column(UTCDateTime, nullable=True)
