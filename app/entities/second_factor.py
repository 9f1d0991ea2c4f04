"""Second factors of an account (ASVS 5.0 chapter 6): a TOTP authenticator (RFC 6238), single-use recovery codes
(ASVS 6.5 "lookup secrets") and passkeys (WebAuthn Level 3 public key credentials).

Secrets are never stored in a form that signs a user in: the TOTP seed is encrypted (app/services/secret_box.py),
recovery codes are SHA-256 digests of 120-bit random values (ASVS 6.5.2 allows a plain hash from 112 bits on), and a
passkey is only its public key. Everything here goes with the user (ON DELETE CASCADE).
"""
from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.entities.session import TOKEN_DIGEST_LENGTH
from app.entities.types import UTCDateTime, binary, binary_string, utcnow
from app.extensions import db

PASSKEY_NAME_MAX_LENGTH = 64
CREDENTIAL_ID_MAX_BYTES = 1023  # WebAuthn Level 3: a credential ID is at most 1023 bytes


class TotpFactor(db.Model):
    """The account's TOTP authenticator (one per user). Active once `confirmed_at` is set (a valid code was
    entered); `last_used_step` is the RFC 6238 time step of the last accepted code: a code of that step or an
    earlier one is refused (no replay)."""

    __tablename__ = "totp_factors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, unique=True)
    secret_ciphertext: Mapped[str] = mapped_column(String(255), nullable=False)  # a Fernet token of the base32 seed
    confirmed_at = mapped_column(UTCDateTime, nullable=True)
    last_used_step: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    @property
    def is_active(self):
        return self.confirmed_at is not None


class RecoveryCode(db.Model):
    """One unused recovery code: its SHA-256 digest. Using a code deletes it; regenerating deletes all of them."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    code_digest: Mapped[str] = mapped_column(String(TOKEN_DIGEST_LENGTH), nullable=False, unique=True)
    created_at = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class Passkey(db.Model):
    """A WebAuthn public key credential registered by the user: a discoverable credential created with user
    verification. `credential_id` is the authenticator's raw credential ID (found by its digest); `public_key` the
    COSE_Key; `sign_count` the last signature counter seen (0: the authenticator keeps none); `user_handle` the
    WebAuthn user.id of the account (random, the same for all its passkeys)."""

    __tablename__ = "passkeys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(PASSKEY_NAME_MAX_LENGTH), nullable=False)
    credential_id: Mapped[bytes] = mapped_column(binary(CREDENTIAL_ID_MAX_BYTES), nullable=False)
    credential_id_digest: Mapped[str] = mapped_column(String(TOKEN_DIGEST_LENGTH), nullable=False, unique=True)
    public_key: Mapped[bytes] = mapped_column(binary(1024), nullable=False)
    sign_count: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    user_handle: Mapped[str] = mapped_column(binary_string(88), nullable=False)  # base64url of 32..64 random bytes
    transports: Mapped[str] = mapped_column(String(128), nullable=False, default="")  # comma-separated hints
    aaguid: Mapped[str] = mapped_column(String(36), nullable=False, default="")
    backed_up: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    last_used_at = mapped_column(UTCDateTime, nullable=True)


class MfaChallenge(db.Model):
    """A sign-in waiting for its second factor: the first factor (`method`: "password", "social:google") was
    right. The client holds the MFA token whose digest is `token_digest`; it works once, until `expires_at`, and dies
    after MFA_MAX_ATTEMPTS wrong codes (`failed_attempts`)."""

    __tablename__ = "mfa_challenges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    token_digest: Mapped[str] = mapped_column(String(TOKEN_DIGEST_LENGTH), nullable=False, unique=True)
    method: Mapped[str] = mapped_column(String(32), nullable=False)
    failed_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    expires_at = mapped_column(UTCDateTime, nullable=False, index=True)


class WebAuthnCeremony(db.Model):
    """A WebAuthn ceremony in progress: the `challenge` (raw bytes) the server sent in the options, for `purpose`
    ("registration" or "authentication"), and for registration the user. The client names it with the ceremony
    token whose digest is `token_digest`; finishing it (well or not) deletes it, so a challenge is answered once."""

    __tablename__ = "webauthn_ceremonies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=True, index=True)
    purpose: Mapped[str] = mapped_column(String(16), nullable=False)
    token_digest: Mapped[str] = mapped_column(String(TOKEN_DIGEST_LENGTH), nullable=False, unique=True)
    challenge: Mapped[bytes] = mapped_column(binary(64), nullable=False)
    created_at = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    expires_at = mapped_column(UTCDateTime, nullable=False, index=True)
