"""Access tokens: itsdangerous `URLSafeTimedSerializer` over the user id and the user's token version.

Token responses follow RFC 6749 section 5.1: `{"access_token", "token_type": "Bearer", "expires_in"}`.
"""
from dataclasses import dataclass

from flask import Config
from injector import inject
from itsdangerous import BadData, URLSafeTimedSerializer

from app.entities.user_row import user_row_by_id
from app.extensions import read_connection

ACCESS_TOKEN_SALT = "gatehouse.access-token.v1"  # noqa: S105  (a salt, public by design)


@dataclass(frozen=True)
class TokenResponse:
    """An RFC 6749 token response. `expires_in` is in seconds."""

    access_token: str
    expires_in: int
    token_type: str = "Bearer"  # noqa: S105  (RFC 6749 token type, not a secret)


class AccessTokenService:
    """Issues and verifies signed, expiring access tokens. Stateless: bind as singleton."""

    @inject
    def __init__(self, config: Config):
        self._serializer = URLSafeTimedSerializer(config["SECRET_KEY"], salt=ACCESS_TOKEN_SALT)
        self.ttl = config["ACCESS_TOKEN_TTL"]  # seconds

    def issue(self, user):
        """Return a TokenResponse for `user` (anything with `id` and `token_version`), valid for `ttl` seconds or until
        the user's token version changes."""
        token = self._serializer.dumps({"sub": user.id, "ver": user.token_version})
        return TokenResponse(access_token=token, expires_in=self.ttl)

    def authenticate(self, token):
        """Return the active user that `token` names, as a UserRow (one query, roles included), or None.

        None when the token is malformed, tampered with, older than `ttl` seconds, names no user, names an inactive
        user, or carries a token version the user has since moved past (password change, revocation).
        """
        try:
            claims = self._serializer.loads(token, max_age=self.ttl)
            user_id, version = claims["sub"], claims["ver"]
        except (BadData, KeyError, TypeError):
            return None
        if type(user_id) is not int:
            return None
        user = user_row_by_id(read_connection(), user_id)
        if user is None or not user.is_active or user.token_version != version:
            return None
        return user
