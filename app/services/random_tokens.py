"""Random bearer secrets handed to clients (refresh tokens, mailed tokens) and the digest they are stored as."""
import hashlib
import secrets

TOKEN_BYTES = 32  # 256 bits of randomness (the floor for refresh tokens is 128)


def new_token():
    """A new random token: URL-safe text of TOKEN_BYTES random bytes (43 characters)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_digest(token):
    """The stored form of a random token: SHA-256, hex (64 characters). High-entropy values need no slow hash."""
    return hashlib.sha256(token.encode()).hexdigest()
