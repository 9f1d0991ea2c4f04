"""Password hashing (argon2id via argon2-cffi) and the password policy.

Policy (NIST SP 800-63B, OWASP ASVS 5.0 V6), checked by `PasswordService.check_policy`; every broken rule is
reported, as `{field: [messages]}` in a ValidationFailed (a 400 problem with `errors`):

- 8 to 128 characters, no composition rules: "Length must be between 8 and 128.";
- not the email (compared case-insensitively, surrounding whitespace stripped):
  "Password must not be the same as the email.";
- not a common password (NIST SP 800-63B-4 3.1.1.2, 5.1.1.2 in revision 3: verifiers SHALL compare new passwords
  against a blocklist of values "commonly-used, expected, or compromised", such as "passwords obtained from
  previous breach corpuses"): "This password is too common." The password, stripped of surrounding whitespace
  and lowercased, must not be in COMMON_PASSWORDS_FILE: Royce Williams' list of common passwords as shipped by
  Django 5.2.19 (django/contrib/auth/common-passwords.txt.gz, BSD-3-Clause; 19,640 lowercase entries, one a line,
  gzipped UTF-8). app/data/README.md tells its origin and how to replace it. The list is read once per process, on
  first use, into a frozenset; nothing is fetched over the network.
"""
import contextlib
import functools
import gzip
import secrets
from importlib import resources

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Config
from injector import inject

from app.entities.user import normalize_email
from app.errors import ValidationFailed

PASSWORD_MIN_LENGTH = 8  # characters
PASSWORD_MAX_LENGTH = 128  # characters
# Common passwords to refuse (gzipped UTF-8, one lowercase entry a line), shipped inside the `app` package.
COMMON_PASSWORDS_FILE = resources.files("app") / "data" / "common-passwords.txt.gz"


@functools.cache
def common_passwords():
    """The entries of COMMON_PASSWORDS_FILE, stripped and lowercased, as a frozenset (read once per process)."""
    with COMMON_PASSWORDS_FILE.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as lines:
        return frozenset(entry for line in lines if (entry := line.strip().lower()))


def is_common_password(password):
    """True when `password`, stripped of surrounding whitespace and lowercased, is a common password."""
    return password.strip().lower() in common_passwords()


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
        if email and password.strip().lower() == normalize_email(email):
            problems.append("Password must not be the same as the email.")
        if is_common_password(password):
            problems.append("This password is too common.")
        if problems:
            raise ValidationFailed({field: problems})
