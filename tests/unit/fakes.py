"""In-memory implementations of app/services/ports.py, for the unit tests of the services' rules: no Flask app, no
database, no zope transaction.

`Store` holds the committed state as plain column values per entity class and id. Each unit of work works on a copy
of it and loads fresh entity objects from that copy (as a database session loads rows), so an aborted unit of work
leaves the store as it was, and one that commits replaces it: all or nothing, like the real one. Locks are
bookkeeping only (units of work here run one at a time); the lock-order check is the ports' own.
"""
import copy
import itertools
import logging
from types import SimpleNamespace

from sqlalchemy import inspect

from app.entities import AuditEvent, AuthSession, OneTimeToken, RefreshToken, SocialIdentity, User
from app.entities.personal_access_token import PersonalAccessToken
from app.entities.second_factor import MfaChallenge, Passkey, RecoveryCode, TotpFactor, WebAuthnCeremony
from app.entities.service_account import ServiceAccount, ServiceAccountSecret
from app.entities.user import _touch_changed_users
from app.errors import EmailTaken
from app.services import ports

logger = logging.getLogger(__name__)
ATTEMPTS = 3


def _columns(cls):
    return [column.key for column in inspect(cls).columns]


def _values(obj):
    values = {key: getattr(obj, key) for key in _columns(type(obj))}
    if isinstance(obj, User):
        values["roles"] = obj.roles
    return values


def _build(cls, values):
    values = dict(values)
    roles = values.pop("roles", None)
    obj = cls(**values) if cls is not User else cls(grants=[], **values)
    if roles is not None:
        obj.roles = roles
    return obj


def _apply_defaults(obj):
    """What a database insert does: column defaults for the attributes left None."""
    for column in inspect(type(obj)).columns:
        if getattr(obj, column.key) is None and column.default is not None and not column.primary_key:
            default = column.default
            setattr(obj, column.key, default.arg(None) if default.is_callable else default.arg)


class Store:
    """The committed state: {entity class: {id: column values}}, the delivered mail, and id sequences."""

    def __init__(self):
        self.rows = _Tables()
        self.mail = []  # OutgoingMessages sent by committed units of work
        self._ids = itertools.count(1)

    def next_id(self):
        return next(self._ids)

    def all(self, cls):
        """Fresh copies of every committed entity of `cls` (for assertions)."""
        return [_build(cls, values) for values in self.rows[cls].values()]

    def get(self, cls, entity_id):
        values = self.rows[cls].get(entity_id)
        return None if values is None else _build(cls, values)

    def audit_types(self):
        return [values["type"] for values in self.rows[AuditEvent].values()]


class FakeUnitOfWork(ports.UnitOfWork):
    """One attempt on a copy of the store's rows; `commit()` writes the copy back."""

    def __init__(self, store):
        self.store = store
        self.rows = copy.deepcopy(store.rows)
        self.loaded = {}  # (class, id) -> entity object handed out by this unit of work
        self.outgoing = []
        self.hooks = []
        self.users = _Users(self)
        self.sessions = _Sessions(self)
        self.one_time_tokens = _OneTimeTokens(self)
        self.social_identities = _SocialIdentities(self)
        self.audit_events = _Inserts(self)
        self.second_factors = _SecondFactors(self)
        self.credentials = _Credentials(self)
        self.entities = _Entities(self)
        self.outbox = SimpleNamespace(send=self.outgoing.append)

    def after_commit(self, hook):
        self.hooks.append(hook)

    # --- a tiny ORM --------------------------------------------------------------------------------------------
    def load(self, cls, entity_id):
        key = (cls, entity_id)
        if key not in self.loaded:
            values = self.rows[cls].get(entity_id)
            if values is None:
                return None
            self.loaded[key] = _build(cls, values)
        return self.loaded[key]

    def find(self, cls, **where):
        """Entities of `cls` whose columns equal `where`, after writing back what this unit of work changed."""
        self.flush()
        return [self.load(cls, entity_id) for entity_id, values in list(self.rows[cls].items())
                if all(values[key] == value for key, value in where.items())]

    def insert(self, obj):
        _apply_defaults(obj)
        obj.id = self.store.next_id()
        self.loaded[(type(obj), obj.id)] = obj
        self.rows[type(obj)][obj.id] = {}
        self.flush()

    def remove(self, cls, entity_id):
        """Delete a row and, as ON DELETE CASCADE does, every row whose foreign key names it."""
        self.rows[cls].pop(entity_id, None)
        self.loaded.pop((cls, entity_id), None)
        for child in list(self.rows):
            for column in inspect(child).columns:
                for key in column.foreign_keys:
                    if key.column.table is cls.__table__ and key.ondelete == "CASCADE" and child is not cls:
                        for child_id in [i for i, v in self.rows[child].items() if v[column.key] == entity_id]:
                            self.remove(child, child_id)

    def purge_expired(self, cls, now):
        """Delete the `cls` rows whose `expires_at` is before `now` (and what cascades from them); returns how many."""
        expired = [entity.id for entity in self.find(cls) if entity.expires_at < now]
        for entity_id in expired:
            self.remove(cls, entity_id)
        return len(expired)

    def flush(self):
        """Write loaded entities back to the rows, moving `updated_at` of changed users as the real flush does
        (the rule's own listener, app/entities/user.py)."""
        changed = [obj for (cls, entity_id), obj in self.loaded.items()
                   if cls is User and self.rows[cls].get(entity_id) not in ({}, None)
                   and _values(obj) != self.rows[cls][entity_id]]
        _touch_changed_users(SimpleNamespace(dirty=changed, is_modified=lambda _obj: True), None, None)
        emails = {}
        for (cls, entity_id), obj in self.loaded.items():
            if entity_id in self.rows[cls]:
                self.rows[cls][entity_id] = _values(obj)
        for entity_id, values in self.rows[User].items():
            if emails.setdefault(values["email"], entity_id) != entity_id:
                raise EmailTaken()

    def commit(self):
        self.flush()
        self.store.rows = self.rows
        self.store.mail.extend(self.outgoing)
        for hook in self.hooks:
            try:
                hook()
            except Exception:
                logger.exception("after-commit hook failed")


class _Tables(dict):
    """{entity class: {id: column values}}, a table for any entity class on first use (deep-copyable)."""

    def __missing__(self, cls):
        self[cls] = {}
        return self[cls]


class _Entities(ports.EntityRepository):
    def __init__(self, uow):
        self.uow = uow

    def add(self, entity):
        self.uow.insert(entity)

    def get(self, cls, entity_id, lock=False):
        return self.uow.load(cls, entity_id)

    def delete(self, entity):
        self.uow.remove(type(entity), entity.id)


class _Users(ports.UserRepository):
    def __init__(self, uow):
        super().__init__()
        self.uow = uow

    def _lock(self, user_id):
        return self.uow.load(User, user_id)

    def _lock_by_email(self, email):
        found = self.uow.find(User, email=email)
        return found[0] if found else None

    def _add(self, user):
        self.uow.insert(user)

    def delete(self, user):
        self.uow.remove(User, user.id)


class _Inserts:
    def __init__(self, uow):
        self.uow = uow

    def add(self, obj):
        self.uow.insert(obj)


class _Sessions(_Inserts, ports.SessionRepository):
    def lock(self, session_id):
        return self.uow.load(AuthSession, session_id)

    def end_all(self, user_id, reason, now):
        live = [s for s in self.uow.find(AuthSession, user_id=user_id) if s.revoked_at is None]
        for session in live:
            session.revoked_at, session.revoke_reason = now, reason
        return len(live)

    def end_others(self, user_id, keep_session_id, reason, now):
        live = [s for s in self.uow.find(AuthSession, user_id=user_id)
                if s.revoked_at is None and s.expires_at > now and s.id != keep_session_id]
        for session in live:
            session.revoked_at, session.revoke_reason = now, reason
        return len(live)

    def recent_clients(self, user_id, since):
        return list(dict.fromkeys((s.ip_address, s.user_agent) for s in self.uow.find(AuthSession, user_id=user_id)
                                  if s.last_used_at >= since))

    def refresh_token_owner(self, digest):
        tokens = self.uow.find(RefreshToken, token_digest=digest)
        if not tokens:
            return None
        session = self.uow.load(AuthSession, tokens[0].session_id)
        return session.user_id, session.id

    def add_refresh_token(self, token):
        self.uow.insert(token)

    def spend_refresh_token(self, digest, now):
        tokens = self.uow.find(RefreshToken, token_digest=digest, spent_at=None)
        if not tokens or tokens[0].expires_at <= now:
            return False
        tokens[0].spent_at = now
        return True

    def refresh_token_spent(self, digest):
        return any(token.spent_at is not None for token in self.uow.find(RefreshToken, token_digest=digest))

    def purge_expired(self, now):
        return self.uow.purge_expired(AuthSession, now)


class _OneTimeTokens(_Inserts, ports.OneTimeTokenRepository):
    def find(self, digest, purpose):
        found = self.uow.find(OneTimeToken, token_digest=digest, purpose=purpose)
        return found[0] if found else None

    def delete_for(self, user_id, purpose):
        for token in self.uow.find(OneTimeToken, user_id=user_id, purpose=purpose):
            self.uow.remove(OneTimeToken, token.id)

    def delete(self, token_id):
        there = token_id in self.uow.rows[OneTimeToken]
        self.uow.remove(OneTimeToken, token_id)
        return there

    def purge_expired(self, now):
        return self.uow.purge_expired(OneTimeToken, now)


class _SocialIdentities(_Inserts, ports.SocialIdentityRepository):
    def find(self, provider, subject):
        found = self.uow.find(SocialIdentity, provider=provider, subject=subject)
        return found[0] if found else None

    def has_link(self, user_id, provider):
        return bool(self.uow.find(SocialIdentity, user_id=user_id, provider=provider))


class _SecondFactors(ports.SecondFactorRepository):
    def __init__(self, uow):
        self.uow = uow

    def _one(self, cls, **where):
        found = self.uow.find(cls, **where)
        return found[0] if found else None

    def totp(self, user_id):
        return self._one(TotpFactor, user_id=user_id)

    def recovery_codes(self, user_id):
        return self.uow.find(RecoveryCode, user_id=user_id)

    def delete_recovery_code(self, user_id, digest):
        code = self._one(RecoveryCode, user_id=user_id, code_digest=digest)
        if code is not None:
            self.uow.remove(RecoveryCode, code.id)
        return code is not None

    def passkeys(self, user_id):
        return sorted(self.uow.find(Passkey, user_id=user_id), key=lambda passkey: passkey.id)

    def add_passkey(self, passkey):
        if self.passkey_by_credential(passkey.credential_id_digest) is not None:
            raise ports.ConcurrentChange("credential registered meanwhile")
        self.uow.insert(passkey)

    def passkey_by_credential(self, digest):
        return self._one(Passkey, credential_id_digest=digest)

    def challenge(self, digest):
        return self._one(MfaChallenge, token_digest=digest)

    def ceremony(self, digest):
        return self._one(WebAuthnCeremony, token_digest=digest)

    def delete_all(self, user_id):
        factors = len(self.uow.find(TotpFactor, user_id=user_id)) + len(self.uow.find(Passkey, user_id=user_id))
        for cls in (TotpFactor, Passkey, RecoveryCode, MfaChallenge, WebAuthnCeremony):
            for entity in self.uow.find(cls, user_id=user_id):
                self.uow.remove(cls, entity.id)
        return factors

    def purge_expired(self, now):
        return self.uow.purge_expired(MfaChallenge, now) + self.uow.purge_expired(WebAuthnCeremony, now)


class _Credentials(ports.CredentialRepository):
    def __init__(self, uow):
        self.uow = uow

    def personal_token(self, token_id):
        found = self.uow.find(PersonalAccessToken, id=token_id)
        return found[0] if found else None

    def live_personal_tokens(self, user_id, now):
        return sum(1 for token in self.uow.find(PersonalAccessToken, user_id=user_id)
                   if token.revoked_at is None and token.expires_at > now)

    def revoke_personal_tokens(self, user_id, reason, now):
        tokens = [token for token in self.uow.find(PersonalAccessToken, user_id=user_id) if token.revoked_at is None]
        for token in tokens:
            token.revoke(reason, now)
        return len(tokens)

    def record_token_use(self, token_id, now, ip_address, before):
        token = self.personal_token(token_id)
        if token is None or (token.last_used_at is not None and token.last_used_at >= before
                             and token.last_used_from == ip_address):
            return False
        token.last_used_at, token.last_used_from = now, ip_address
        return True

    def record_session_use(self, session_id, now, ip_address, user_agent, before):
        found = self.uow.find(AuthSession, id=session_id)
        if not found or found[0].last_used_at >= before:
            return False
        found[0].last_used_at, found[0].ip_address, found[0].user_agent = now, ip_address, user_agent
        return True

    def service_account(self, client_id):
        found = self.uow.find(ServiceAccount, client_id=client_id)
        return found[0] if found else None

    def service_account_secrets(self, account_id):
        return sorted(self.uow.find(ServiceAccountSecret, service_account_id=account_id), key=lambda s: s.id)

    def purge_expired_personal_tokens(self, now):
        return self.uow.purge_expired(PersonalAccessToken, now)


class FakeTransactions(ports.Transactions):
    """Runs units of work on a Store: commits when `work` returns, discards everything when it raises, reruns it
    (ATTEMPTS calls in all) on ConcurrentChange."""

    def __init__(self, store):
        self.store = store
        self.running = False
        self.runs = []  # names of the units of work run, attempts included

    def run(self, work, name=None):
        if self.running:
            raise RuntimeError(f"unit of work {name!r} started inside another")
        self.running = True
        try:
            for attempt in range(1, ATTEMPTS + 1):
                self.runs.append(name or work.__qualname__)
                uow = FakeUnitOfWork(self.store)
                try:
                    result = work(uow)
                    uow.commit()
                    return result
                except ports.ConcurrentChange:
                    if attempt == ATTEMPTS:
                        raise
        finally:
            self.running = False


class FakeUserQueries:
    """The read side of users (app/queries/users.py) over the store's committed rows."""

    def __init__(self, store):
        self.store = store

    def by_id(self, user_id):
        return self.store.get(User, user_id)

    def credentials_by_email(self, email):
        found = [u for u in self.store.all(User) if u.email == email]
        return found[0] if found else None

    def in_session(self, user_id, session_id):
        session = self.store.get(AuthSession, session_id)
        if session is None or session.user_id != user_id or session.revoked_at is not None:
            return None
        return self.store.get(User, user_id)

    def authentication(self, session_id):
        session = self.store.get(AuthSession, session_id)
        return None if session is None or session.revoked_at is not None else (session.auth_time, session.acr)
