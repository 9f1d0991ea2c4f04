"""The repositories of app/services/ports.py on SQLAlchemy: each works in the session of the unit of work that made
it (app/unit_of_work.py), which joins the zope transaction. Locks are `SELECT ... FOR UPDATE` (row locks on
MySQL/MariaDB; SQLite ignores them and the unit of work's `BEGIN IMMEDIATE` serializes writers instead)."""
from sqlalchemy import bindparam, delete, or_, select, update
from sqlalchemy.exc import IntegrityError

from app.entities import AuthSession, OneTimeToken, RefreshToken, SocialIdentity, User
from app.entities.personal_access_token import PersonalAccessToken
from app.entities.second_factor import MfaChallenge, Passkey, RecoveryCode, TotpFactor, WebAuthnCeremony
from app.entities.service_account import ServiceAccount, ServiceAccountSecret
from app.services import ports

_SESSIONS = AuthSession.__table__.c
_REFRESH_TOKENS = RefreshToken.__table__.c
_ONE_TIME_TOKENS = OneTimeToken.__table__.c
# Built once (their cache key is computed once): the conditional write that spends a refresh token.
_SPEND = (update(RefreshToken.__table__)
          .where(_REFRESH_TOKENS.token_digest == bindparam("digest"), _REFRESH_TOKENS.spent_at.is_(None),
                 _REFRESH_TOKENS.expires_at > bindparam("now"))
          .values(spent_at=bindparam("now")))
_REFRESH_TOKEN_OWNER = (select(_SESSIONS.user_id, _SESSIONS.id)
                        .join_from(RefreshToken.__table__, AuthSession.__table__)
                        .where(_REFRESH_TOKENS.token_digest == bindparam("digest")))


class SqlUserRepository(ports.UserRepository):
    def __init__(self, session):
        super().__init__()
        self.session = session

    def _lock(self, user_id):
        return self.session.get(User, user_id, with_for_update=True, populate_existing=True)

    def _lock_by_email(self, email):
        return self.session.scalars(select(User).where(User.email == email).with_for_update()).unique().first()

    def _add(self, user):
        self.session.add(user)
        self.session.flush()

    def delete(self, user):
        self.session.delete(user)  # the rest goes with it: ON DELETE CASCADE


class SqlSessionRepository(ports.SessionRepository):
    def __init__(self, session):
        self.session = session

    def add(self, auth_session):
        self.session.add(auth_session)
        self.session.flush()

    def lock(self, session_id):
        return self.session.get(AuthSession, session_id, with_for_update=True)

    def end_all(self, user_id, reason, now):
        return self.session.execute(
            update(AuthSession.__table__)
            .where(_SESSIONS.user_id == user_id, _SESSIONS.revoked_at.is_(None))
            .values(revoked_at=now, revoke_reason=reason)).rowcount

    def end_others(self, user_id, keep_session_id, reason, now):
        others = [] if keep_session_id is None else [_SESSIONS.id != keep_session_id]
        return self.session.execute(
            update(AuthSession.__table__)
            .where(_SESSIONS.user_id == user_id, _SESSIONS.revoked_at.is_(None), _SESSIONS.expires_at > now, *others)
            .values(revoked_at=now, revoke_reason=reason)).rowcount

    def recent_clients(self, user_id, since):
        return [tuple(row) for row in self.session.execute(
            select(_SESSIONS.ip_address, _SESSIONS.user_agent).distinct()
            .where(_SESSIONS.user_id == user_id, _SESSIONS.last_used_at >= since))]

    def refresh_token_owner(self, digest):
        row = self.session.execute(_REFRESH_TOKEN_OWNER, {"digest": digest}).first()
        return None if row is None else tuple(row)

    def add_refresh_token(self, token):
        self.session.add(token)

    def spend_refresh_token(self, digest, now):
        return self.session.execute(_SPEND, {"digest": digest, "now": now}).rowcount == 1

    def refresh_token_spent(self, digest):
        # A locking (current) read: a plain one would see the snapshot taken before a concurrent winner committed.
        return self.session.scalar(select(_REFRESH_TOKENS.spent_at).where(_REFRESH_TOKENS.token_digest == digest)
                                   .with_for_update()) is not None

    def purge_expired(self, now):
        # Child rows first: SQLite without foreign-key enforcement (a shell, a script) must not leave orphans. No user
        # row is locked (a bulk delete of rows nobody can use any more): a deadlock with a use case is retried.
        expired = select(_SESSIONS.id).where(_SESSIONS.expires_at < now).scalar_subquery()
        self.session.execute(delete(RefreshToken.__table__).where(_REFRESH_TOKENS.session_id.in_(expired)))
        return self.session.execute(delete(AuthSession.__table__).where(_SESSIONS.expires_at < now)).rowcount


class SqlOneTimeTokenRepository(ports.OneTimeTokenRepository):
    def __init__(self, session):
        self.session = session

    def find(self, digest, purpose):
        return self.session.scalars(select(OneTimeToken).where(
            _ONE_TIME_TOKENS.token_digest == digest, _ONE_TIME_TOKENS.purpose == purpose)).first()

    def add(self, token):
        self.session.add(token)

    def delete_for(self, user_id, purpose):
        # Found with a plain (non-locking) read and deleted by primary key: a DELETE by (user_id, purpose) that
        # matches nothing, as for every new account, still takes a gap lock on InnoDB, and two concurrent
        # registrations then deadlock on each other's INSERT (seen in tests/system: 1213, a 500).
        earlier = self.session.scalars(select(_ONE_TIME_TOKENS.id).where(
            _ONE_TIME_TOKENS.user_id == user_id, _ONE_TIME_TOKENS.purpose == purpose)).all()
        if earlier:
            self.session.execute(delete(OneTimeToken.__table__).where(_ONE_TIME_TOKENS.id.in_(earlier)))

    def delete(self, token_id):
        # A locking write sees the latest rows: a concurrent redemption that deleted it first makes this one miss.
        return self.session.execute(
            delete(OneTimeToken.__table__).where(_ONE_TIME_TOKENS.id == token_id)).rowcount == 1

    def purge_expired(self, now):
        return self.session.execute(
            delete(OneTimeToken.__table__).where(_ONE_TIME_TOKENS.expires_at < now)).rowcount


class SqlSocialIdentityRepository(ports.SocialIdentityRepository):
    def __init__(self, session):
        self.session = session

    def find(self, provider, subject):
        return self.session.scalars(select(SocialIdentity).where(
            SocialIdentity.provider == provider, SocialIdentity.subject == subject)).first()

    def has_link(self, user_id, provider):
        return self.session.scalars(select(SocialIdentity.id).where(
            SocialIdentity.user_id == user_id, SocialIdentity.provider == provider)).first() is not None

    def add(self, identity):
        self.session.add(identity)
        try:
            self.session.flush()
        except IntegrityError as error:  # the unique (provider, subject): linked by a concurrent first login
            raise ports.ConcurrentChange(f"{identity.provider} subject linked meanwhile") from error


class SqlEntityRepository(ports.EntityRepository):
    def __init__(self, session):
        self.session = session

    def add(self, entity):
        self.session.add(entity)
        self.session.flush()

    def get(self, cls, entity_id, lock=False):
        return self.session.get(cls, entity_id, with_for_update=lock or None)

    def delete(self, entity):
        self.session.delete(entity)


class SqlAuditEventRepository(ports.AuditEventRepository):
    def __init__(self, session):
        self.session = session

    def add(self, event):
        self.session.add(event)



class SqlSecondFactorRepository(ports.SecondFactorRepository):
    def __init__(self, session):
        self.session = session

    def totp(self, user_id):
        return self.session.scalars(select(TotpFactor).where(TotpFactor.user_id == user_id)).first()

    def recovery_codes(self, user_id):
        return self.session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user_id)).all()

    def delete_recovery_code(self, user_id, digest):
        return self.session.execute(delete(RecoveryCode.__table__).where(
            RecoveryCode.__table__.c.user_id == user_id,
            RecoveryCode.__table__.c.code_digest == digest)).rowcount == 1

    def passkeys(self, user_id):
        return self.session.scalars(select(Passkey).where(Passkey.user_id == user_id).order_by(Passkey.id)).all()

    def add_passkey(self, passkey):
        self.session.add(passkey)
        try:
            self.session.flush()
        except IntegrityError as error:  # the unique credential digest: registered by a concurrent ceremony
            raise ports.ConcurrentChange("credential registered meanwhile") from error

    def passkey_by_credential(self, digest):
        return self.session.scalars(select(Passkey).where(Passkey.credential_id_digest == digest)).first()

    def challenge(self, digest):
        return self.session.scalars(select(MfaChallenge).where(MfaChallenge.token_digest == digest)
                                    .with_for_update()).first()

    def ceremony(self, digest):
        return self.session.scalars(select(WebAuthnCeremony).where(WebAuthnCeremony.token_digest == digest)
                                    .with_for_update()).first()

    def delete_all(self, user_id):
        # Found with plain reads and deleted by primary key (a DELETE matching nothing takes gap locks on InnoDB).
        factors = 0
        for entity in (TotpFactor, Passkey, RecoveryCode, MfaChallenge, WebAuthnCeremony):
            table = entity.__table__
            ids = self.session.scalars(select(table.c.id).where(table.c.user_id == user_id)).all()
            if ids:
                self.session.execute(delete(table).where(table.c.id.in_(ids)))
            if entity in (TotpFactor, Passkey):
                factors += len(ids)
        return factors

    def purge_expired(self, now):
        return sum(self.session.execute(delete(entity.__table__).where(entity.__table__.c.expires_at < now)).rowcount
                   for entity in (MfaChallenge, WebAuthnCeremony))


_PATS = PersonalAccessToken.__table__
_SESSION_TABLE = AuthSession.__table__
# Activity updates, prepared once: conditional, so concurrent requests of one session or token write once.
_RECORD_TOKEN_USE = (update(_PATS).where(_PATS.c.id == bindparam("token_id"), or_(
    _PATS.c.last_used_at.is_(None), _PATS.c.last_used_at < bindparam("before"),
    _PATS.c.last_used_from.is_(None), _PATS.c.last_used_from != bindparam("ip_address")))
    .values(last_used_at=bindparam("now"), last_used_from=bindparam("ip_address")))
_RECORD_SESSION_USE = (update(_SESSION_TABLE).where(_SESSION_TABLE.c.id == bindparam("session_id"),
                                                    _SESSION_TABLE.c.last_used_at < bindparam("before"))
                       .values(last_used_at=bindparam("now"), ip_address=bindparam("ip_address"),
                               user_agent=bindparam("user_agent")))


class SqlCredentialRepository(ports.CredentialRepository):
    def __init__(self, session):
        self.session = session

    def personal_token(self, token_id):
        return self.session.scalars(select(PersonalAccessToken).where(PersonalAccessToken.id == token_id)
                                    .with_for_update()).first()

    def live_personal_tokens(self, user_id, now):
        return len(self.session.scalars(select(_PATS.c.id).where(
            _PATS.c.user_id == user_id, _PATS.c.revoked_at.is_(None), _PATS.c.expires_at > now)).all())

    def revoke_personal_tokens(self, user_id, reason, now):
        tokens = self.session.scalars(select(PersonalAccessToken).where(
            PersonalAccessToken.user_id == user_id, PersonalAccessToken.revoked_at.is_(None))).all()
        for token in tokens:
            token.revoke(reason, now)
        return len(tokens)

    def record_token_use(self, token_id, now, ip_address, before):
        return self.session.execute(_RECORD_TOKEN_USE, {
            "token_id": token_id, "now": now, "ip_address": ip_address, "before": before}).rowcount == 1

    def record_session_use(self, session_id, now, ip_address, user_agent, before):
        return self.session.execute(_RECORD_SESSION_USE, {
            "session_id": session_id, "now": now, "ip_address": ip_address, "user_agent": user_agent,
            "before": before}).rowcount == 1

    def service_account(self, client_id):
        return self.session.scalars(select(ServiceAccount).where(ServiceAccount.client_id == client_id)).first()

    def service_account_secrets(self, account_id):
        return self.session.scalars(select(ServiceAccountSecret).where(
            ServiceAccountSecret.service_account_id == account_id).order_by(ServiceAccountSecret.id)).all()

    def purge_expired_personal_tokens(self, now):
        return self.session.execute(delete(_PATS).where(_PATS.c.expires_at < now)).rowcount
