"""Password hashing (argon2id via argon2-cffi) and the password policy.

Policy (NIST SP 800-63B, OWASP ASVS 5.0 V6): 8 to 128 characters, no composition rules, not equal to the email.
"""
import contextlib
import secrets

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Config
from injector import inject

from app.errors import ValidationFailed

PASSWORD_MIN_LENGTH = 8  # characters
PASSWORD_MAX_LENGTH = 128  # characters


class PasswordService:
    """Hashes and verifies passwords; enforces the policy. Stateless apart from its parameters: bind as singleton."""

    @inject
    def __init__(self, config: Config):
        self._hasher = PasswordHasher(
            time_cost=config["ARGON2_TIME_COST"],
            memory_cost=config["ARGON2_MEMORY_COST"],  # KiB
            parallelism=config["ARGON2_PARALLELISM"],
            type=Type.ID,
        )
        self._dummy_hash = None

    def hash(self, password):
        """Return the argon2id PHC string for `password` (a str)."""
        return self._hasher.hash(password)

    def verify(self, password_hash, password):
        """True when `password` matches `password_hash`.

        A missing hash (an account without a password) still costs one verification, so timing does not tell
        whether the account exists or has a password.
        """
        if password_hash is None:
            self.verify_dummy(password)
            return False
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def verify_dummy(self, password):
        """Spend the time of one failed verification (used when the email is unknown)."""
        if self._dummy_hash is None:
            self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))
        with contextlib.suppress(VerificationError):
            self._hasher.verify(self._dummy_hash, password)

    def needs_rehash(self, password_hash):
        """True when `password_hash` was made with other parameters than the configured ones."""
        return self._hasher.check_needs_rehash(password_hash)

    def check_policy(self, password, email, field="password"):
        """Raise ValidationFailed with `{field: [messages]}` when `password` breaks the policy."""
        problems = []
        if not PASSWORD_MIN_LENGTH <= len(password) <= PASSWORD_MAX_LENGTH:
            problems.append(f"Length must be between {PASSWORD_MIN_LENGTH} and {PASSWORD_MAX_LENGTH}.")
        if email and password.strip().lower() == email.strip().lower():
            problems.append("Password must not be the same as the email.")
        if problems:
            raise ValidationFailed({field: problems})
