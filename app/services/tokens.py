"""Access tokens: itsdangerous `URLSafeTimedSerializer` over the user id, the user's token version and the session.

Token responses follow RFC 6749 section 5.1: `{"access_token", "token_type": "Bearer", "expires_in",
"refresh_token"}`. An access token is valid for `ACCESS_TOKEN_TTL` seconds, and only while its session (`sid`) is
not revoked and the user is active with the same token version: logout takes effect on the next request.
"""
from dataclasses import dataclass

from flask import Config
from injector import inject
from itsdangerous import BadData, URLSafeTimedSerializer

from app.entities.user_row import user_row_in_session
from app.extensions import read_connection

ACCESS_TOKEN_SALT = "gatehouse.access-token.v2"  # noqa: S105  (a salt, public by design; v2: tokens carry `sid`)


@dataclass(frozen=True)
class TokenResponse:
    """An RFC 6749 token response. `expires_in` is in seconds."""

    access_token: str
    expires_in: int
    refresh_token: str | None = None
    token_type: str = "Bearer"  # noqa: S105  (RFC 6749 token type, not a secret)


@dataclass(frozen=True)
class AccessClaims:
    """What a verified access token names: the user and the session it belongs to."""

    user_id: int
    session_id: int


class AccessTokenService:
    """Issues and verifies signed, expiring access tokens. Stateless: bind as singleton."""

    @inject
    def __init__(self, config: Config):
        self._serializer = URLSafeTimedSerializer(config["SECRET_KEY"], salt=ACCESS_TOKEN_SALT)
        self.ttl = config["ACCESS_TOKEN_TTL"]  # seconds

    def issue(self, user, session_id, refresh_token=None):
        """Return a TokenResponse for `user` (anything with `id` and `token_version`) in session `session_id`, with
        `refresh_token` (a str) when given. The access token is valid for `ttl` seconds, until the session is
        revoked, or until the user's token version changes."""
        token = self._serializer.dumps({"sub": user.id, "ver": user.token_version, "sid": session_id})
        return TokenResponse(access_token=token, expires_in=self.ttl, refresh_token=refresh_token)

    def claims(self, token):
        """AccessClaims of a well-signed, unexpired token (without checking the database), or None."""
        decoded = self._decode(token)
        return None if decoded is None else AccessClaims(decoded[0], decoded[2])

    def authenticate(self, token):
        """Return the active user that `token` names, as a UserRow (one query, roles included), or None.

        None when the token is malformed, tampered with, older than `ttl` seconds, names no user, names an inactive
        user, carries a token version the user has since moved past (password change), or belongs to a session that
        was revoked (logout, logout-all, reset, deactivation).
        """
        decoded = self._decode(token)
        if decoded is None:
            return None
        user_id, version, session_id = decoded
        user = user_row_in_session(read_connection(), user_id, session_id)
        if user is None or not user.is_active or user.token_version != version:
            return None
        return user

    def _decode(self, token):
        try:
            claims = self._serializer.loads(token, max_age=self.ttl)
            decoded = claims["sub"], claims["ver"], claims["sid"]
        except (BadData, KeyError, TypeError):
            return None
        return decoded if all(type(value) is int for value in decoded) else None
