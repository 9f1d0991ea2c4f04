"""Sessions and refresh tokens: start, rotate with reuse detection, end one, end all, purge expired.

Follows the OAuth 2.0 Security Best Current Practice (RFC 9700 4.14.2) for refresh token rotation: every refresh
spends the presented token and issues a new one in the same session (token family); presenting a spent token again
means it leaked, so the whole family is revoked. Spending is one conditional UPDATE (`... WHERE spent_at IS NULL`)
made while holding the user's row lock (app/services/ports.py: the lock every use case on an account takes first), so
of two concurrent refreshes with one token exactly one succeeds and the other answers 401, on every database.
"""
import datetime as dt

from flask import Config
from injector import inject

from app.entities import AuditEventType, AuthSession, RefreshToken
from app.entities.session import AAL1, REVOKE_REASON_MAX_LENGTH
from app.entities.types import utcnow
from app.errors import AccountGone, InvalidRefreshToken
from app.services.audit import NO_CLIENT, AuditService
from app.services.ports import Transactions, unit_of_work
from app.services.random_tokens import new_token, token_digest
from app.services.tokens import AccessTokenService


class SessionService:
    """Sessions (refresh-token families). Stateless apart from settings: bind as singleton.

    `REFRESH_TOKEN_TTL` (seconds, default 14 days): lifetime of each refresh token. `SESSION_MAX_LIFETIME` (seconds,
    default 90 days): no refresh extends a session past this age; then the user signs in again (ASVS 5.0 7.3.2).
    """

    @inject
    def __init__(self, config: Config, transactions: Transactions, tokens: AccessTokenService, audit: AuditService):
        self.transactions = transactions
        self.refresh_ttl = dt.timedelta(seconds=config["REFRESH_TOKEN_TTL"])
        self.max_lifetime = dt.timedelta(seconds=config["SESSION_MAX_LIFETIME"])
        self.tokens = tokens
        self.audit = audit

    def start(self, uow, user, method, acr=AAL1):
        """Open a session for `user` (a User or UserRow) signed in by `method` ("password", "social:google",
        "passkey") with authentication context class `acr` (AAL1: one factor; AAL2: two, or a passkey with user
        verification) and return its TokenResponse (access and refresh token). In unit of work `uow`, which locked
        `user`."""
        uow.users.require_lock(user.id)
        now = utcnow()
        session = AuthSession(user_id=user.id, method=method, created_at=now, expires_at=now, auth_time=now, acr=acr)
        uow.sessions.add(session)
        return self.tokens.issue(user, session.id, self._add_refresh_token(uow, session, now))

    def refresh(self, refresh_token, client=NO_CLIENT):
        """Spend `refresh_token` and return a new TokenResponse in the same session.

        Raises InvalidRefreshToken when the token is unknown, expired, spent, or its session is revoked or expired or
        its user inactive or deleted. A spent token presented again revokes its session (every token of the family)
        and records `refresh_token.reused`; that revocation commits even though the call fails.
        """
        tokens = self._refresh(refresh_token, client)
        if tokens is None:
            raise InvalidRefreshToken()
        return tokens

    @unit_of_work
    def _refresh(self, uow, refresh_token, client):
        """refresh's unit of work: the new TokenResponse, or None (after committing what a refused refresh writes:
        the spent token, a reuse's revocation). Raises InvalidRefreshToken (nothing written)."""
        digest, now = token_digest(refresh_token), utcnow()
        # The user's row first, then the session (the token family), then the token: concurrent refreshes of one
        # family queue on the user's row. (Spending first let a loser wait on the token's unique-index entry, and the
        # winner's insert of the new token next to it deadlocked with that wait on InnoDB.)
        owner = uow.sessions.refresh_token_owner(digest)
        user = None if owner is None else uow.users.lock(owner[0])
        session = None if user is None else uow.sessions.lock(owner[1])
        if session is None:
            raise InvalidRefreshToken()
        if uow.sessions.spend_refresh_token(digest, now):
            if not session.is_revoked and session.expires_at > now and user.is_active:
                return self.tokens.issue(user, session.id, self._add_refresh_token(uow, session, now))
        elif uow.sessions.refresh_token_spent(digest):
            session.revoke("refresh_token_reused", now)
            self.audit.record(uow, AuditEventType.REFRESH_TOKEN_REUSED, session.user_id, client,
                              session_id=session.id)
        return None

    @unit_of_work
    def end(self, uow, user_id, session_id, client=NO_CLIENT):
        """Logout: revoke session `session_id` of `user_id` (its access and refresh tokens stop working at once).
        Raises AccountGone when the user was deleted meanwhile (their sessions went with them)."""
        if uow.users.lock(user_id) is None:
            raise AccountGone()
        self._end(uow, user_id, session_id, "logout", client)

    def revoke(self, token, token_type_hint=None, client=NO_CLIENT):
        """RFC 7009 token revocation: end the session `token` belongs to, as logout does (reason "revocation").

        `token` is one of the session's refresh tokens (live, spent or expired: whoever holds one may end the
        family) or one of its unexpired access tokens (they name their session); either way all the session's
        tokens stop working. `token_type_hint` ("refresh_token" or "access_token") only says which kind to look
        for first; both are searched (RFC 7009 2.1). Returns whether a session was found: an unknown, expired or
        malformed token is not an error (RFC 7009 2.2).
        """
        lookups = [self._refresh_token_owner, self._access_token_owner]
        if token_type_hint == "access_token":  # noqa: S105  (an RFC 7009 hint, not a secret)
            lookups.reverse()
        return self._revoke(lookups, token, client)

    @unit_of_work
    def _revoke(self, uow, lookups, token, client):
        for lookup in lookups:
            owner = lookup(uow, token)
            if owner is not None:
                if uow.users.lock(owner[0]) is None:  # deleted meanwhile, with every session: nothing left to end
                    return False
                self._end(uow, *owner, "revocation", client)
                return True
        return False

    @unit_of_work
    def end_everywhere(self, uow, user_id, client=NO_CLIENT):
        """Logout-all: end every session of `user_id` (so all its access and refresh tokens); record `logout.all`.
        Raises AccountGone when the user was deleted meanwhile."""
        if uow.users.lock(user_id) is None:
            raise AccountGone()
        self.end_all(uow, user_id, "logout_all", client)

    def sign_out_everywhere(self, uow, user, reason, client=NO_CLIENT):
        """Make every credential `user` (a User locked by the unit of work) holds stop working: its access tokens
        (`token_version` raised) and every session with its refresh tokens (`reason` stored). The rule a password
        change or reset, a deactivation and a takeover-proof social link all follow. Returns how many sessions
        ended."""
        user.revoke_tokens()
        return self.end_all(uow, user.id, reason, client, record=False)

    def end_all(self, uow, user_id, reason, client=NO_CLIENT, record=True):
        """Revoke every live session of `user_id` (`reason`: a short slug stored with them). Returns how many.
        In unit of work `uow`, which locked the user (callers combine it with the change that requires it)."""
        uow.users.require_lock(user_id)
        ended = uow.sessions.end_all(user_id, reason[:REVOKE_REASON_MAX_LENGTH], utcnow())
        if record:
            self.audit.record(uow, AuditEventType.LOGOUT_ALL, user_id, client, reason=reason, sessions=ended)
        return ended

    def purge_expired(self, now=None):
        """Delete sessions (with their refresh tokens) that expired before `now`; keep revoked but unexpired
        sessions, so a leaked spent token is still recognised as reuse until it would have expired. Returns how many
        sessions were deleted."""
        return self._purge_expired(now or utcnow())

    @unit_of_work
    def _purge_expired(self, uow, now):
        return uow.sessions.purge_expired(now)

    def _end(self, uow, user_id, session_id, reason, client):
        """Revoke session `session_id` if it is `user_id`'s and record `logout`. In unit of work `uow`, which locked
        the user."""
        uow.users.require_lock(user_id)
        session = uow.sessions.lock(session_id)
        if session is not None and session.user_id == user_id:
            session.revoke(reason)
        self.audit.record(uow, AuditEventType.LOGOUT, user_id, client, session_id=session_id, reason=reason)

    @staticmethod
    def _refresh_token_owner(uow, token):
        """(user id, session id) of the session holding refresh token `token` in any state, or None."""
        return uow.sessions.refresh_token_owner(token_digest(token))

    def _access_token_owner(self, _uow, token):
        """(user id, session id) an unexpired, well-signed access token names, or None."""
        claims = self.tokens.claims(token)
        return None if claims is None else (claims.user_id, claims.session_id)

    def _add_refresh_token(self, uow, session, now):
        """Add a new refresh token to `session`, extend the session to its expiry, and return the token."""
        token = new_token()
        expires_at = min(now + self.refresh_ttl, session.created_at + self.max_lifetime)
        uow.sessions.add_refresh_token(RefreshToken(session_id=session.id, token_digest=token_digest(token),
                                                    created_at=now, expires_at=expires_at))
        session.expires_at = expires_at
        return token



