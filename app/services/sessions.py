"""Sessions and refresh tokens: start, rotate with reuse detection, end one, end all, purge expired.

Follows the OAuth 2.0 Security Best Current Practice (RFC 9700 4.14.2) for refresh token rotation: every refresh
spends the presented token and issues a new one in the same session (token family); presenting a spent token again
means it leaked, so the whole family is revoked. Spending is one conditional UPDATE (`... WHERE spent_at IS NULL`)
made while holding the user's row lock (app/services/ports.py: the lock every use case on an account takes first), so
of two concurrent refreshes with one token exactly one succeeds and the other answers 401, on every database.

Sessions and devices (after Google's and Keycloak's account consoles): each session keeps the address and User-Agent
it was started from, then where it was last used (app/services/activity.py); its owner lists the live ones, ends
one, or ends every other one, and admins do the same for any user.
"""
import datetime as dt
from dataclasses import dataclass

from flask import Config
from injector import inject

from app.entities import AuditEventType, AuthSession, RefreshToken
from app.entities.session import AAL1, REVOKE_REASON_MAX_LENGTH
from app.entities.types import utcnow
from app.errors import AccountGone, InvalidRefreshToken, NotFound, UserNotFound
from app.queries.sessions import MAX_LISTED_SESSIONS, SessionQueries
from app.queries.users import UserQueries
from app.services.audit import NO_CLIENT, AuditService
from app.services.devices import describe, stored_ip, stored_user_agent
from app.services.ports import Transactions, unit_of_work
from app.services.random_tokens import new_token, token_digest
from app.services.tokens import AccessTokenService


@dataclass(frozen=True, slots=True)
class ListedSession:
    """A live session as its owner (or an admin) sees it: `id`; `created_at` and `last_used_at` (aware
    datetimes; the last use is recorded at most once a minute); `ip_address` and `user_agent` of the sign-in or of
    the last recorded use (None when unknown); `device`, a summary of `user_agent` (app/services/devices.py) or
    None; `method` ("password", "social:<provider>", "passkey"); `acr` ("aal1", "aal2"); `current`: the session of
    the caller's token."""

    id: int
    created_at: object
    last_used_at: object
    ip_address: str | None
    user_agent: str | None
    device: str | None
    method: str
    acr: str
    current: bool


@dataclass(frozen=True, slots=True)
class SessionList:
    """`items`: ListedSessions, most recently used first, at most MAX_LISTED_SESSIONS; `truncated`: True when the
    user has more live sessions than that (the least recently used are not listed)."""

    items: list
    truncated: bool


class SessionService:
    """Sessions (refresh-token families). Stateless apart from settings: bind as singleton.

    `REFRESH_TOKEN_TTL` (seconds, default 14 days): lifetime of each refresh token. `SESSION_MAX_LIFETIME` (seconds,
    default 90 days): no refresh extends a session past this age; then the user signs in again (ASVS 5.0 7.3.2).
    """

    @inject
    def __init__(self, config: Config, transactions: Transactions, tokens: AccessTokenService, audit: AuditService,
                 queries: SessionQueries, users: UserQueries):
        self.transactions = transactions
        self.queries = queries
        self.users = users
        self.refresh_ttl = dt.timedelta(seconds=config["REFRESH_TOKEN_TTL"])
        self.max_lifetime = dt.timedelta(seconds=config["SESSION_MAX_LIFETIME"])
        # Whether a password reset (the mailed link, or an admin setting the password) also revokes the user's
        # personal access tokens.
        self.ends_tokens_on_reset = config["PAT_REVOKE_ON_PASSWORD_RESET"]
        self.tokens = tokens
        self.audit = audit

    def start(self, uow, user, method, acr=AAL1, client=NO_CLIENT):
        """Open a session for `user` (a User or UserRow) signed in by `method` ("password", "social:google",
        "passkey") with authentication context class `acr` (AAL1: one factor; AAL2: two, or a passkey with user
        verification) from `client` (a ClientInfo: its address and User-Agent are stored with the session, cut to
        the columns' lengths; `last_used_at` is now) and return its TokenResponse (access and refresh token). In
        unit of work `uow`, which locked `user`."""
        uow.users.require_lock(user.id)
        now = utcnow()
        session = AuthSession(user_id=user.id, method=method, created_at=now, expires_at=now, auth_time=now, acr=acr,
                              last_used_at=now, ip_address=stored_ip(client), user_agent=stored_user_agent(client))
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
        """Logout-all: end every session of `user_id` (so all its access and refresh tokens) and revoke its
        personal access tokens; record `logout.all`. Raises AccountGone when the user was deleted meanwhile."""
        if uow.users.lock(user_id) is None:
            raise AccountGone()
        self.end_all(uow, user_id, "logout_all", client)
        self.end_personal_tokens(uow, user_id, "logout_all", client)

    def list(self, user_id, current_session_id=None, now=None):
        """The live (neither revoked nor expired) sessions of `user_id` as a SessionList: most recently used first,
        at most MAX_LISTED_SESSIONS; `current` marks session `current_session_id` (None, for a personal access
        token: none is current)."""
        rows = self.queries.live(user_id, now or utcnow())
        return SessionList([
            ListedSession(row.id, row.created_at, row.last_used_at, row.ip_address, row.user_agent,
                          describe(row.user_agent), row.method, row.acr, row.id == current_session_id)
            for row in rows[:MAX_LISTED_SESSIONS]], len(rows) > MAX_LISTED_SESSIONS)

    def list_of_user(self, user_id, current_session_id=None):
        """`list` for an admin looking at user `user_id`. Raises UserNotFound when no user has that id."""
        if self.users.by_id(user_id) is None:
            raise UserNotFound(f"No user has id {user_id}.")
        return self.list(user_id, current_session_id)

    @unit_of_work
    def end_one(self, uow, user_id, session_id, client=NO_CLIENT, actor_id=None, by_admin=False):
        """End live session `session_id` of `user_id`, as logout does (its access and refresh tokens stop working
        at once; it may be the caller's own), for its owner or, `by_admin`, through the admin routes (`actor_id`: the
        admin, None for a service account). Records `logout` with reason "ended_by_user" or "ended_by_admin".

        Raises NotFound (404) when `session_id` is not a session of `user_id`, or is already revoked or expired;
        AccountGone when the owner was deleted meanwhile, or UserNotFound when an admin names no user.
        """
        if uow.users.lock(user_id) is None:
            raise UserNotFound(f"No user has id {user_id}.") if by_admin else AccountGone()
        session, now = uow.sessions.lock(session_id), utcnow()
        if session is None or session.user_id != user_id or session.is_revoked or session.expires_at <= now:
            raise NotFound(f"{'The user has' if by_admin else 'You have'} no live session with id {session_id}.")
        reason = "ended_by_admin" if by_admin else "ended_by_user"
        session.revoke(reason, now)
        self.audit.record(uow, AuditEventType.LOGOUT, user_id, client, actor_id=actor_id, session_id=session_id,
                          reason=reason)

    @unit_of_work
    def end_others(self, uow, user_id, current_session_id, client=NO_CLIENT):
        """Sign out every other session: end each live session of `user_id` but `current_session_id` (all of them
        when it is None), as logout does for each; personal access tokens stay. Returns how many ended; records
        `logout.all` with reason "signed_out_others", the count and the session kept. Raises AccountGone when the
        user was deleted meanwhile."""
        if uow.users.lock(user_id) is None:
            raise AccountGone()
        reason = "signed_out_others"
        ended = uow.sessions.end_others(user_id, current_session_id, reason, utcnow())
        self.audit.record(uow, AuditEventType.LOGOUT_ALL, user_id, client, reason=reason, sessions=ended,
                          kept_session_id=current_session_id)
        return ended

    def sign_out_everywhere(self, uow, user, reason, client=NO_CLIENT, personal_tokens=False):
        """Make every credential `user` (a User locked by the unit of work) holds stop working: its access tokens
        (`token_version` raised) and every session with its refresh tokens (`reason` stored), and its personal
        access tokens too when `personal_tokens`. The rule a password change or reset, a deactivation and a
        takeover-proof social link all follow. Returns how many sessions ended."""
        user.revoke_tokens()
        if personal_tokens:
            self.end_personal_tokens(uow, user.id, reason, client)
        return self.end_all(uow, user.id, reason, client, record=False)

    def end_personal_tokens(self, uow, user_id, reason, client=NO_CLIENT):
        """Revoke every personal access token of `user_id` (`reason`: a short slug stored with them) and record
        `personal_access_token.revoked` when there were any. Returns how many. In unit of work `uow`, which locked
        the user."""
        uow.users.require_lock(user_id)
        ended = uow.credentials.revoke_personal_tokens(user_id, reason, utcnow())
        if ended:
            self.audit.record(uow, AuditEventType.PERSONAL_TOKEN_REVOKED, user_id, client, reason=reason,
                              tokens=ended)
        return ended

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



