"""The end of every sign-in: a session with tokens, or, for an account with a second factor, a pending sign-in that
waits for it (ASVS 5.0 6.3.3: the second factor is checked before any token is issued); and re-authentication.

- `begin` (called by password, social and passkey sign-ins inside their unit of work, once the first factor is
  right): an account without a second factor gets its session and tokens at once; one with a factor gets an MFA
  token instead (a signed, random value, MFA_TOKEN_TTL seconds, stored as a digest with its attempt count), which
  `result` turns into SecondFactorRequired once the unit of work has committed.
- `complete` (POST /auth/mfa): the MFA token and a TOTP or recovery code finish the sign-in: a session of class
  "aal2". The token works once; a wrong code counts against it, and MFA_MAX_ATTEMPTS wrong codes end it.
- `reauthenticate` (POST /auth/reauthenticate): the password (and a code, when the account has a second factor)
  again, inside the caller's session: its `auth_time` and `acr` move, for step-up (app/services/step_up.py).

Sign-in alerts (opt-in, `users.sign_in_alerts`): when tokens are issued (at once, or once the second factor is
given) from a device none of the account's sessions of the last SESSION_MAX_LIFETIME seconds came from, the owner is
mailed (AccountMail.new_sign_in), in the same unit of work. A device is `devices.device_key`: browser and OS families
and the address's /24 (IPv4) or /48 (IPv6) network. An account with no such session (its first sign-in, or the
first after they were all purged) has nothing to compare with: no alert.
"""
import datetime as dt
from dataclasses import dataclass

from flask import Config
from injector import inject
from itsdangerous import BadData, URLSafeTimedSerializer

from app.entities import AuditEventType
from app.entities.second_factor import MfaChallenge
from app.entities.session import AAL1, AAL2
from app.entities.types import utcnow
from app.errors import (
    AccountGone,
    InvalidMfaToken,
    InvalidSecondFactor,
    ReauthenticationRequired,
    SecondFactorRequired,
)
from app.services.account_mail import AccountMail
from app.services.audit import NO_CLIENT, AuditService
from app.services.devices import describe, device_key, stored_ip, stored_user_agent
from app.services.mfa import MfaService
from app.services.passwords import PasswordService
from app.services.ports import Transactions, raise_refusal
from app.services.random_tokens import new_token, token_digest
from app.services.sessions import SessionService

MFA_TOKEN_SALT = "gatehouse.mfa-token.v1"  # noqa: S105  (a salt, public by design)


@dataclass(frozen=True)
class PendingSignIn:
    """A first factor accepted, the second awaited: the MFA token, its lifetime (seconds), the factors the account
    can answer with."""

    mfa_token: str
    expires_in: int
    factors: list


class SignInService:
    """Finishes sign-ins, second factor included, and re-authenticates. Stateless: bind as singleton."""

    @inject
    def __init__(self, config: Config, transactions: Transactions, sessions: SessionService, mfa: MfaService,
                 passwords: PasswordService, audit: AuditService, mail: AccountMail):
        self.transactions = transactions
        self.mail = mail
        self.alert_window = dt.timedelta(seconds=config["SESSION_MAX_LIFETIME"])
        self.sessions = sessions
        self.mfa = mfa
        self.passwords = passwords
        self.audit = audit
        self.ttl = config["MFA_TOKEN_TTL"]  # seconds
        self.max_attempts = config["MFA_MAX_ATTEMPTS"]
        self._serializer = URLSafeTimedSerializer(config["SECRET_KEY"], salt=MFA_TOKEN_SALT)

    def begin(self, uow, user, method, client=NO_CLIENT, acr=AAL1):
        """In unit of work `uow`, which locked `user` and found its first factor (`method`: "password",
        "social:google", "passkey") right from `client`: a TokenResponse and `login.succeeded` when no second
        factor is needed (none set up, or `acr` is AAL2 already: a passkey), with a sign-in alert for a new device
        when the account asked for them; else a PendingSignIn and `mfa.challenge_issued`. Pass the result to
        `result` after the unit of work."""
        uow.users.require_lock(user.id)
        if not user.mfa_enabled or acr == AAL2:
            return self._signed_in(uow, user, method, client, acr)
        token = self._serializer.dumps({"sub": user.id, "jti": new_token()})
        now = utcnow()
        uow.entities.add(MfaChallenge(user_id=user.id, token_digest=token_digest(token), method=method,
                                      failed_attempts=0, created_at=now,
                                      expires_at=now + dt.timedelta(seconds=self.ttl)))
        self.audit.record(uow, AuditEventType.MFA_CHALLENGE_ISSUED, user.id, client, method=method)
        return PendingSignIn(token, self.ttl, self.mfa.factors(uow, user))

    @staticmethod
    def result(outcome):
        """The TokenResponse `begin` returned, or raise SecondFactorRequired (403 `mfa-required`, carrying the MFA
        token) for a PendingSignIn."""
        if isinstance(outcome, PendingSignIn):
            raise SecondFactorRequired(outcome.mfa_token, outcome.expires_in, outcome.factors)
        return outcome

    def user_of(self, mfa_token):
        """The user id a well-signed MFA token younger than MFA_TOKEN_TTL names, from its signature alone (no
        database), or None: the rate limits' account key."""
        try:
            user_id = self._serializer.loads(mfa_token, max_age=self.ttl)["sub"]
        except (BadData, KeyError, TypeError):
            return None
        return user_id if type(user_id) is int else None

    def complete(self, mfa_token, code, client=NO_CLIENT):
        """Finish the sign-in of `mfa_token` with `code` (a TOTP or recovery code): a TokenResponse of a new session
        of class AAL2; records `mfa.succeeded` and `login.succeeded`.

        Raises InvalidMfaToken (unknown, expired, used or ended token; an account deactivated or deleted since) or
        InvalidSecondFactor (a wrong code, after committing the failure: `mfa.failed`, and the token's end at
        MFA_MAX_ATTEMPTS).
        """
        return self._complete(mfa_token, client, lambda uow, user: self.mfa.verify_code(uow, user, code, client))

    def complete_with(self, mfa_token, proof, client=NO_CLIENT, refusal=InvalidSecondFactor):
        """`complete` with another proof of the second factor: `proof(uow, user)` returns the factor's name
        ("passkey") or None when it proves nothing; then `refusal()` (a DomainError) is raised, after the failure
        is committed. Otherwise the same answers and errors."""
        return self._complete(mfa_token, client, proof, refusal)

    def _complete(self, mfa_token, client, proof, refusal=InvalidSecondFactor):
        user_id = self.user_of(mfa_token)
        if user_id is None:
            raise InvalidMfaToken()

        def complete(uow):
            user = uow.users.lock(user_id)
            challenge = uow.second_factors.challenge(token_digest(mfa_token))
            if user is None or challenge is None or challenge.user_id != user.id or challenge.expires_at <= utcnow():
                return InvalidMfaToken()
            if not user.is_active:
                uow.entities.delete(challenge)
                return InvalidMfaToken()
            factor = proof(uow, user)
            if factor is None:
                challenge.failed_attempts += 1
                ended = challenge.failed_attempts >= self.max_attempts
                if ended:
                    uow.entities.delete(challenge)
                self.audit.record(uow, AuditEventType.MFA_FAILED, user.id, client, method=challenge.method,
                                  attempts=challenge.failed_attempts, ended=ended)
                return refusal()
            uow.entities.delete(challenge)
            self.audit.record(uow, AuditEventType.MFA_SUCCEEDED, user.id, client, factor=factor)
            return self.begin_strong(uow, user, challenge.method, client)

        return raise_refusal(self.transactions.run(complete, "SignInService.complete"))

    def begin_strong(self, uow, user, method, client):
        """A two-factor session for `user` (locked) started from `client`: its TokenResponse; records
        `login.succeeded`, and mails a sign-in alert for a new device when the account asked for them."""
        return self._signed_in(uow, user, method, client, AAL2)

    def _signed_in(self, uow, user, method, client, acr):
        """Start the session (tokens issued), record `login.succeeded`, and queue the sign-in alert when due."""
        new_device = user.sign_in_alerts and self._is_new_device(uow, user, client)
        tokens = self.sessions.start(uow, user, method, acr, client)
        self.audit.record(uow, AuditEventType.LOGIN_SUCCEEDED, user.id, client, method=method, acr=acr)
        if new_device:
            ip_address, user_agent = stored_ip(client), stored_user_agent(client)
            uow.outbox.send(self.mail.new_sign_in(user, utcnow(), ip_address, describe(user_agent)))
        return tokens

    def _is_new_device(self, uow, user, client):
        """True when `client` is no device (devices.device_key) any session of `user` used in the last
        SESSION_MAX_LIFETIME came from, and there is at least one such session. Call before starting the new one."""
        known = {device_key(ip_address, user_agent)
                 for ip_address, user_agent in uow.sessions.recent_clients(user.id, utcnow() - self.alert_window)}
        return bool(known) and device_key(stored_ip(client), stored_user_agent(client)) not in known

    def reauthenticate(self, user_id, session_id, password=None, code=None, client=NO_CLIENT):
        """Prove again, in session `session_id`, who the caller `user_id` is: `password` (required when the account
        has one; accounts without a password sign in again instead), and `code` (TOTP or recovery code) for the
        two-factor class. The session's `auth_time` becomes now and its `acr` "aal2" with a valid code, else
        "aal1". Returns the new acr; records `reauthenticated`.

        Raises ReauthenticationRequired (no or a wrong password, or an account without one; a wrong one is
        audited as `login.failed`), InvalidSecondFactor (403: a wrong code, audited as `mfa.failed`), AccountGone.
        """
        def reauthenticate(uow):
            user = uow.users.lock(user_id)
            session = uow.sessions.lock(session_id)
            if user is None or session is None or session.user_id != user.id or session.is_revoked:
                raise AccountGone()
            if user.password_hash is None:
                raise ReauthenticationRequired("This account has no password: sign in again (with your provider "
                                               "or a passkey) to re-authenticate.")
            if password is None:
                raise ReauthenticationRequired("Required to re-authenticate.")
            if not self.passwords.verify(user.password_hash, password):
                self.audit.record(uow, AuditEventType.LOGIN_FAILED, user.id, client, method="reauthentication")
                return ReauthenticationRequired("Incorrect password.", wrong_password=True)
            acr = AAL1
            if code is not None:
                factor = self.mfa.verify_code(uow, user, code, client)
                if factor is None:
                    self.audit.record(uow, AuditEventType.MFA_FAILED, user.id, client, method="reauthentication")
                    return InvalidSecondFactor(status=403)
                acr = AAL2
            session.reauthenticated(acr)
            self.audit.record(uow, AuditEventType.REAUTHENTICATED, user.id, client, acr=acr)
            return acr

        return raise_refusal(self.transactions.run(reauthenticate, "SignInService.reauthenticate"))

