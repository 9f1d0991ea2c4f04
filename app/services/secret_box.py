"""Encryption at rest of the secrets Gatehouse must read back (TOTP seeds), with keys derived from configuration.

Fernet (the `cryptography` package: AES-128-CBC with HMAC-SHA-256, a version byte and a timestamp) under a key
derived by HKDF-SHA-256 (RFC 5869) from SECRET_KEY, with its own `info` so it can never collide with the keys
itsdangerous derives from the same secret for tokens. The keys derived from SECRET_KEY_FALLBACKS still decrypt, so
SECRET_KEY can be rotated: new values are encrypted under the first key; keep an old key in SECRET_KEY_FALLBACKS for as
long as values encrypted under it exist (nothing re-encrypts them yet).
"""
import base64

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import Config
from injector import inject

HKDF_INFO = b"gatehouse.secret-box.v1"


def derive_key(secret):
    """The Fernet key (url-safe base64 of 32 bytes) HKDF-SHA-256 derives from the text `secret`."""
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=HKDF_INFO).derive(secret.encode())
    return base64.urlsafe_b64encode(key)


class SecretUnreadable(Exception):  # noqa: N818  (a state, not an error a client caused)
    """A ciphertext no configured key decrypts (SECRET_KEY changed without its old value in SECRET_KEY_FALLBACKS),
    or one that was tampered with."""


class SecretBox:
    """Encrypts and decrypts short secrets (str). Stateless: bind as singleton."""

    @inject
    def __init__(self, config: Config):
        secrets = [config["SECRET_KEY"], *config.get("SECRET_KEY_FALLBACKS", [])]
        self._fernet = MultiFernet([Fernet(derive_key(secret)) for secret in secrets])

    def encrypt(self, plaintext):
        """The Fernet token (ASCII str, about 100 characters for a 32-character plaintext) of `plaintext`."""
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext):
        """The plaintext of a token `encrypt` made under SECRET_KEY or one of SECRET_KEY_FALLBACKS. Raises
        SecretUnreadable."""
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken:
            raise SecretUnreadable() from None
