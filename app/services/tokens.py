"""Access tokens: itsdangerous `URLSafeTimedSerializer` over the user id, the user's token version and the session.

Token responses follow RFC 6749 section 5.1: `{"access_token", "token_type": "Bearer", "expires_in",
"refresh_token"}`. An access token is valid for `ACCESS_TOKEN_TTL` seconds, and only while its session (`sid`) is
not revoked and the user is active with the same token version: logout takes effect on the next request.
"""
from dataclasses import dataclass

from flask import Config
from injector import inject
from itsdangerous import BadData, URLSafeTimedSerializer

from app.queries.users import UserQueries

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
    """What a well-signed, unexpired access token names: the user, their token version then, and the session."""

    user_id: int
    version: int
    session_id: int


class AccessTokenService:
    """Issues and verifies signed, expiring access tokens. Stateless: bind as singleton."""

    @inject
    def __init__(self, config: Config, queries: UserQueries):
        self.queries = queries
        self._serializer = URLSafeTimedSerializer(config["SECRET_KEY"], salt=ACCESS_TOKEN_SALT)
        self.ttl = config["ACCESS_TOKEN_TTL"]  # seconds

    def issue(self, user, session_id, refresh_token=None):
        """Return a TokenResponse for `user` (anything with `id` and `token_version`) in session `session_id`, with
        `refresh_token` (a str) when given. The access token is valid for `ttl` seconds, until the session is
        revoked, or until the user's token version changes."""
        token = self._serializer.dumps({"sub": user.id, "ver": user.token_version, "sid": session_id})
        return TokenResponse(access_token=token, expires_in=self.ttl, refresh_token=refresh_token)

    def claims(self, token):
        """AccessClaims of a well-signed token younger than `ttl` seconds (no database access), or None when it is
        malformed, tampered with or expired."""
        try:
            decoded = self._serializer.loads(token, max_age=self.ttl)
            values = decoded["sub"], decoded["ver"], decoded["sid"]
        except (BadData, KeyError, TypeError):
            return None
        return AccessClaims(*values) if all(type(value) is int for value in values) else None

    def user_for(self, claims):
        """(the active user `claims` name, as a UserRow with roles; when its session was last used, an aware
        datetime) in one query, or None: no such user, an inactive one, a token version the user has since moved
        past, or a revoked session (logout, logout-all, reset, deactivation)."""
        found = self.queries.in_session(claims.user_id, claims.session_id)
        if found is None or not found[0].is_active or found[0].token_version != claims.version:
            return None
        return found

