"""What a use case is given (cosmicpython's "unit of work" and "repository" seams): services are written against
these abstract classes only, never against SQLAlchemy sessions, zope transactions or Flask.

- `Transactions` (injected into services, a singleton) runs a use case: `transactions.run(work, name)` calls
  `work(uow)` with a fresh `UnitOfWork` and commits what it did, all or nothing, running it again when it lost a
  lock race. `@unit_of_work` makes a service method one such call.
- `UnitOfWork` (one per attempt) holds the repositories the use case changes (`users`, `sessions`,
  `one_time_tokens`, `social_identities`, `audit_events`, and `entities` for any other entity), the `outbox` of
  mail that leaves only if the unit of work commits, and `after_commit` hooks. `second_factors` holds TOTP,
  recovery codes, passkeys and the sign-ins and WebAuthn ceremonies waiting on them; `credentials` personal access
  tokens, service accounts, and when sessions and tokens were last used.
- The rules every implementation shares live here, once: the lock order (the user's row first: `UserRepository.lock`
  before anything touching the user's sessions or tokens, checked by `require_lock`).

Implementations: app/unit_of_work.py and app/repositories.py (SQLAlchemy inside a zope transaction, on SQLite and
MySQL/MariaDB; docs/decisions/0003) and tests/unit/fakes.py (in memory, for the unit tests of the rules).
"""
import abc
import functools
from dataclasses import dataclass


class ConcurrentChange(Exception):  # noqa: N818  (a request to rerun, not a failure: named as in the decision record)
    """Raised inside a unit of work that finds a row it read a moment earlier gone or changed when it locks it
    (another unit of work committed in between): the unit of work runs again on fresh state (`Transactions.run`)."""


class LockOrderViolation(RuntimeError):
    """A unit of work touched a user's sessions or tokens without locking the user's row first (a bug)."""


@dataclass(frozen=True)
class OutgoingMessage:
    """A mail message to one recipient: `to` (an address), `subject`, `body` (plain text, lines ending in "\\n")
    and `html`, an optional HTML alternative of the same content (a whole document, a str; None: text only)."""

    to: str
    subject: str
    body: str
    html: str | None = None


class UserRepository(abc.ABC):
    """Users of one unit of work, with the lock-order bookkeeping every implementation shares: the users whose rows
    this unit of work holds (locked, or inserted by it)."""

    def __init__(self):
        self._held = {}

    def lock(self, user_id):
        """Lock the row of user `user_id` for the rest of the unit of work and return the User, or None when no user
        has that id (any more). The first lock a unit of work takes on an account; locking the same user again
        returns the same User without another query."""
        held = self._held.get(user_id)
        return held if held is not None else self._hold(self._lock(user_id))

    def lock_by_email(self, email):
        """`lock` for the user with this normalized email, or None. Sees the latest committed row: a user deleted
        meanwhile is not found."""
        return self._hold(self._lock_by_email(email))

    def add(self, user):
        """Add a new User and give it its id at once; the unit of work holds its row. A taken email makes the unit
        of work raise EmailTaken (409), here or at commit."""
        self._add(user)
        return self._hold(user)

    def require_lock(self, user_id):
        """Raise LockOrderViolation unless this unit of work locked user `user_id` or created it."""
        if user_id not in self._held:
            raise LockOrderViolation(f"lock user {user_id} (uow.users.lock) before touching their sessions or tokens")

    def _hold(self, user):
        if user is not None:
            self._held[user.id] = user
        return user

    @abc.abstractmethod
    def _lock(self, user_id):
        """The User with this id, its row locked until the unit of work ends, or None."""

    @abc.abstractmethod
    def _lock_by_email(self, email):
        """The User with this normalized email, its row locked until the unit of work ends, or None."""

    @abc.abstractmethod
    def _add(self, user):
        """Insert `user` and set its id and column defaults."""

    @abc.abstractmethod
    def delete(self, user):
        """Delete `user` with everything that belongs to it (role grants, sessions and their refresh tokens, mailed
        tokens, social identities; not its audit events)."""


class SessionRepository(abc.ABC):
    """Sessions (AuthSession) and their refresh tokens (RefreshToken). Touch a user's only after locking the user."""

    @abc.abstractmethod
    def add(self, session):
        """Insert an AuthSession and set its id."""

    @abc.abstractmethod
    def lock(self, session_id):
        """The AuthSession with this id, its row locked, or None."""

    @abc.abstractmethod
    def end_all(self, user_id, reason, now):
        """Revoke every live session of `user_id` at `now` with `reason` (already cut to length). Returns how many."""

    @abc.abstractmethod
    def end_others(self, user_id, keep_session_id, reason, now):
        """Revoke at `now`, with `reason` (already cut to length), every session of `user_id` that is neither
        revoked nor expired at `now`, except session `keep_session_id` (None: keep none). Returns how many."""

    @abc.abstractmethod
    def recent_clients(self, user_id, since):
        """The distinct (ip_address, user_agent) pairs, as stored (either may be None), of the sessions of
        `user_id` last used at or after `since` (an aware datetime), revoked and expired ones included."""

    @abc.abstractmethod
    def refresh_token_owner(self, digest):
        """(user id, session id) of the session holding the refresh token with this digest (in any state), or
        None."""

    @abc.abstractmethod
    def add_refresh_token(self, token):
        """Insert a RefreshToken."""

    @abc.abstractmethod
    def spend_refresh_token(self, digest, now):
        """Mark the unspent, unexpired refresh token with this digest spent at `now`, in one conditional write: True
        when this call spent it (of two concurrent calls, one)."""

    @abc.abstractmethod
    def refresh_token_spent(self, digest):
        """True when the refresh token with this digest exists and is spent, as last committed (a locking read)."""

    @abc.abstractmethod
    def purge_expired(self, now):
        """Delete the sessions that expired before `now` with their refresh tokens. Returns how many sessions."""


class OneTimeTokenRepository(abc.ABC):
    """The single-use tokens mailed for email verification and password reset (OneTimeToken)."""

    @abc.abstractmethod
    def find(self, digest, purpose):
        """The OneTimeToken with this digest and purpose (a str), or None (a plain read)."""

    @abc.abstractmethod
    def add(self, token):
        """Insert a OneTimeToken."""

    @abc.abstractmethod
    def delete_for(self, user_id, purpose):
        """Delete every token of `purpose` of user `user_id`."""

    @abc.abstractmethod
    def delete(self, token_id):
        """Delete the token with this id if it is still there: True when this call deleted it."""

    @abc.abstractmethod
    def purge_expired(self, now):
        """Delete the tokens that expired before `now`. Returns how many."""


class SocialIdentityRepository(abc.ABC):
    """Links from a provider's subject to a user (SocialIdentity)."""

    @abc.abstractmethod
    def find(self, provider, subject):
        """The SocialIdentity of `subject` at `provider`, or None."""

    @abc.abstractmethod
    def has_link(self, user_id, provider):
        """True when user `user_id` is linked to some subject of `provider`."""

    @abc.abstractmethod
    def add(self, identity):
        """Insert a SocialIdentity now. Raises ConcurrentChange when another unit of work linked the same subject
        first (the unit of work runs again and finds that link)."""


class AuditEventRepository(abc.ABC):
    """The audit trail's events (AuditEvent): added, never changed."""

    @abc.abstractmethod
    def add(self, event):
        """Insert an AuditEvent."""


class EntityRepository(abc.ABC):
    """Any entity by class and id: what a simple resource (one table, owned by a user) needs, without a repository
    of its own. Lock the owning user first (`uow.users.lock`) when the change must not race another on the account."""

    @abc.abstractmethod
    def add(self, entity):
        """Insert `entity` now and set its id and column defaults."""

    @abc.abstractmethod
    def get(self, cls, entity_id, lock=False):
        """The `cls` entity with this id, or None; with `lock`, its row locked until the unit of work ends."""

    @abc.abstractmethod
    def delete(self, entity):
        """Delete `entity` (and what its foreign keys cascade to)."""


class SecondFactorRepository(abc.ABC):
    """An account's second factors (TotpFactor, RecoveryCode, Passkey) and the ceremonies that use them
    (MfaChallenge, WebAuthnCeremony). Touch a user's only after locking the user; add new rows with
    `uow.entities.add`."""

    @abc.abstractmethod
    def totp(self, user_id):
        """The TotpFactor of `user_id` (confirmed or not), or None."""

    @abc.abstractmethod
    def recovery_codes(self, user_id):
        """The unused RecoveryCodes of `user_id`."""

    @abc.abstractmethod
    def delete_recovery_code(self, user_id, digest):
        """Delete the unused recovery code of `user_id` with this digest: True when this call deleted it."""

    @abc.abstractmethod
    def passkeys(self, user_id):
        """The Passkeys of `user_id`, oldest first."""

    @abc.abstractmethod
    def add_passkey(self, passkey):
        """Insert a Passkey now. Raises ConcurrentChange when another unit of work registered the same credential
        first (the unit of work runs again and finds it)."""

    @abc.abstractmethod
    def passkey_by_credential(self, digest):
        """The Passkey whose credential ID has this SHA-256 digest (hex), or None."""

    @abc.abstractmethod
    def challenge(self, digest):
        """The MfaChallenge whose MFA token has this digest (in any state), or None."""

    @abc.abstractmethod
    def ceremony(self, digest):
        """The WebAuthnCeremony whose ceremony token has this digest (in any state), or None."""

    @abc.abstractmethod
    def delete_all(self, user_id):
        """Delete every second factor of `user_id` (TOTP, recovery codes, passkeys) and their pending sign-ins and
        ceremonies. Returns how many factors (TOTP and passkeys) there were."""

    @abc.abstractmethod
    def purge_expired(self, now):
        """Delete the MfaChallenges and WebAuthnCeremonies that expired before `now`. Returns how many."""


class CredentialRepository(abc.ABC):
    """Personal access tokens, service accounts with their secrets, and the activity of sessions and tokens. Touch
    a user's tokens only after locking the user (activity updates excepted: one row, no other lock held); add new
    rows with `uow.entities.add`."""

    @abc.abstractmethod
    def personal_token(self, token_id):
        """The PersonalAccessToken `token_id`, locked, or None."""

    @abc.abstractmethod
    def live_personal_tokens(self, user_id, now):
        """How many personal access tokens of `user_id` are neither revoked nor expired at `now`."""

    @abc.abstractmethod
    def revoke_personal_tokens(self, user_id, reason, now):
        """Revoke every unrevoked personal access token of `user_id` (`reason`: a short slug). Returns how many."""

    @abc.abstractmethod
    def record_token_use(self, token_id, now, ip_address, before):
        """Set the token's `last_used_at` to `now` and `last_used_from` to `ip_address`, unless it was last used
        at or after `before` from that same address (another request recorded it). Returns whether it wrote."""

    @abc.abstractmethod
    def record_session_use(self, session_id, now, ip_address, user_agent, before):
        """Set the session's `last_used_at`, `ip_address` and `user_agent`, unless it was last used at or after
        `before` (another request recorded it). Returns whether it wrote."""

    @abc.abstractmethod
    def service_account(self, client_id):
        """The ServiceAccount with this client id, or None."""

    @abc.abstractmethod
    def service_account_secrets(self, account_id):
        """The ServiceAccountSecrets of service account `account_id`, oldest first."""

    @abc.abstractmethod
    def purge_expired_personal_tokens(self, now):
        """Delete personal access tokens that expired before `now`. Returns how many."""


class Outbox(abc.ABC):
    """Mail that leaves only if the unit of work commits."""

    @abc.abstractmethod
    def send(self, message):
        """Queue an OutgoingMessage. Raises DependencyUnavailable when the queue cannot take it."""


class UnitOfWork(abc.ABC):
    """One attempt at a use case: its repositories, its outbox and its after-commit hooks. Given to `work` by
    `Transactions.run`; valid only inside that call."""

    users: UserRepository
    sessions: SessionRepository
    one_time_tokens: OneTimeTokenRepository
    social_identities: SocialIdentityRepository
    audit_events: AuditEventRepository
    second_factors: SecondFactorRepository
    credentials: CredentialRepository
    entities: EntityRepository
    outbox: Outbox

    @abc.abstractmethod
    def after_commit(self, hook):
        """Call `hook()` (no arguments) once this unit of work has committed; never if it aborts or runs again.
        Hooks run in the committing thread, in the order added; an exception a hook raises is logged, never
        propagated (the change is committed)."""


class Transactions(abc.ABC):
    """Runs use cases as units of work. Bind as singleton."""

    @abc.abstractmethod
    def run(self, work, name=None):
        """Call `work(uow)` with a fresh UnitOfWork and return its result: committed when it returns, aborted when it
        raises (the error propagates). When it loses a lock race, or raises ConcurrentChange, it is called again
        with a fresh UnitOfWork (a bounded number of times; then the last error propagates). Raises EmailTaken for a
        unique-email violation, RuntimeError when called inside another unit of work. `name` (default: the
        function's qualified name) names the use case in logs and metrics."""


def raise_refusal(outcome):
    """`outcome` of a unit of work that returns (instead of raising) the DomainError it must answer, so that what it
    wrote on the way (an attempt count, an audit event, a spent ceremony) commits: raise it, else return `outcome`."""
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


def unit_of_work(method):
    """Decorator of a service method `method(self, uow, *args, **kwargs)`: callers call `method(*args, **kwargs)`
    and each call is one unit of work run by `self.transactions` (a Transactions), named after the method."""
    name = method.__qualname__

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        return self.transactions.run(lambda uow: method(self, uow, *args, **kwargs), name)
    return wrapper
