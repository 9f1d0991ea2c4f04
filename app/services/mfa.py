"""The second factors an account manages itself: a TOTP authenticator (RFC 6238, through pyotp) and recovery codes,
plus what every second-factor check shares (`verify_code`) and an admin's reset.

- Enrolment makes a secret (160 bits, the RFC 4226 recommendation) and answers it with its `otpauth://` URI (the
  Key Uri Format of Google Authenticator, which every authenticator app reads) and that URI as a QR code (SVG,
  segno). The factor is active only once a code from it is confirmed; the seed is stored encrypted (SecretBox).
- A code is six digits for a 30-second step (RFC 6238's defaults, what authenticator apps use). One step of clock
  drift either way is accepted (RFC 6238 section 6), and a code is accepted once: the step of the last accepted code
  is stored and no code of that step or an earlier one works again (ASVS 5.0 6.5.1).
- Recovery codes (ASVS 6.5 "lookup secrets"): RECOVERY_CODE_COUNT codes of 120 random bits, shown once, stored as
  SHA-256 digests (ASVS 6.5.2 allows a plain hash from 112 bits on), each working once. Regenerating replaces them.
- `users.mfa_enabled` says whether the account has an active factor (a confirmed TOTP or a passkey): sign-ins then
  ask for the second factor (app/services/sign_in.py). `sync_mfa_enabled` keeps it in step.
"""
import base64
import hashlib
import hmac
import io
import logging
import secrets
from dataclasses import dataclass

import pyotp
import segno
from flask import Config
from injector import inject

from app.entities import AuditEventType
from app.entities.second_factor import RecoveryCode, TotpFactor
from app.entities.session import AAL2
from app.entities.types import utcnow
from app.errors import (
    AccountGone,
    FactorStateConflict,
    InvalidSecondFactor,
    ReauthenticationRequired,
    SelfLockout,
    UserNotFound,
)
from app.services.account_mail import AccountMail
from app.services.audit import NO_CLIENT, AuditService
from app.services.passwords import PasswordService
from app.services.ports import Transactions, unit_of_work
from app.services.secret_box import SecretBox, SecretUnreadable
from app.services.step_up import StepUpService

logger = logging.getLogger(__name__)

RECOVERY_CODE_COUNT = 10
RECOVERY_CODE_BYTES = 15  # 120 bits: 24 base32 characters, shown in six groups of four
TOTP_DIGITS = 6
TOTP_SECRET_BYTES = 20  # 160 bits (RFC 4226 section 4, R6)


@dataclass(frozen=True)
class TotpEnrolment:
    """What an authenticator app needs: `secret` (base32), `otpauth_uri` (Key Uri Format), `qr_svg` (an SVG
    document of the URI as a QR code)."""

    secret: str
    otpauth_uri: str
    qr_svg: str


@dataclass(frozen=True)
class MfaStatus:
    """An account's second factors: `totp` (active), `passkeys` (how many), `recovery_codes` (unused, how many)."""

    enabled: bool
    totp: bool
    passkeys: int
    recovery_codes: int


def normalize_recovery_code(code):
    """The stored form of a recovery code as typed: without spaces and hyphens, lower case."""
    return "".join(code.split()).replace("-", "").lower()


def recovery_code_digest(code):
    """SHA-256 (hex) of the normalized code."""
    return hashlib.sha256(normalize_recovery_code(code).encode()).hexdigest()


def new_recovery_code():
    """A new code: 120 random bits as 24 base32 characters in groups of four ("k7qd-...")."""
    text = base64.b32encode(secrets.token_bytes(RECOVERY_CODE_BYTES)).decode().lower()
    return "-".join(text[i:i + 4] for i in range(0, len(text), 4))


def is_totp_code(code):
    """True for what a TOTP code looks like (six digits); anything else is tried as a recovery code."""
    return len(code) == TOTP_DIGITS and code.isascii() and code.isdigit()


class MfaService:
    """TOTP enrolment, confirmation and removal; recovery codes; second-factor checks; admin reset. Stateless:
    bind as singleton."""

    @inject
    def __init__(self, config: Config, transactions: Transactions, box: SecretBox, passwords: PasswordService,
                 step_up: StepUpService, audit: AuditService, mail: AccountMail):
        self.transactions = transactions
        self.box = box
        self.passwords = passwords
        self.step_up = step_up
        self.audit = audit
        self.mail = mail
        self.issuer = config["MFA_ISSUER"]

    # --- status -------------------------------------------------------------------------------------------------
    @unit_of_work
    def status(self, uow, user_id):
        """The MfaStatus of `user_id`. Raises AccountGone."""
        user = _locked(uow, user_id)
        totp = uow.second_factors.totp(user.id)
        return MfaStatus(user.mfa_enabled, totp is not None and totp.is_active,
                         len(uow.second_factors.passkeys(user.id)), len(uow.second_factors.recovery_codes(user.id)))

    # --- TOTP ---------------------------------------------------------------------------------------------------
    def enrol_totp(self, user, session_id, current_password=None, client=NO_CLIENT):
        """Start a TOTP enrolment for `user` (the caller, a UserRow) and return its TotpEnrolment; a pending one is
        replaced. Needs a re-authentication: `current_password`, or a recent sign-in in session `session_id`
        (StepUpService); an account that has a second factor already needs the recent two-factor one.

        Raises FactorStateConflict (TOTP is active already: disable it first), ReauthenticationRequired (wrong
        `current_password`; audited like a failed login), StepUpRequired, AccountGone.
        """
        self._reauthenticate(user, session_id, current_password, client)
        secret = base64.b32encode(secrets.token_bytes(TOTP_SECRET_BYTES)).decode()

        def enrol(uow):
            stored = _locked(uow, user.id)
            factor = uow.second_factors.totp(stored.id)
            if factor is not None and factor.is_active:
                raise FactorStateConflict("TOTP is active already: disable it before enrolling a new "
                                          "authenticator.")
            if factor is None:
                factor = TotpFactor(user_id=stored.id, secret_ciphertext="")
                uow.entities.add(factor)
            factor.secret_ciphertext = self.box.encrypt(secret)
            factor.last_used_step, factor.created_at = None, utcnow()
            return stored.email
        email = self.transactions.run(enrol, "MfaService.enrol_totp")
        uri = pyotp.TOTP(secret, digits=TOTP_DIGITS).provisioning_uri(name=email, issuer_name=self.issuer)
        return TotpEnrolment(secret, uri, _qr_svg(uri))

    @unit_of_work
    def confirm_totp(self, uow, user_id, session_id, code, client=NO_CLIENT):
        """Activate the pending TOTP enrolment of `user_id` with a current `code` from it: the account then has a
        second factor (sign-ins ask for it), the caller's session `session_id` counts as two-factor authenticated
        now, and new recovery codes are made. Returns the list of RECOVERY_CODE_COUNT recovery codes (shown once).
        Records `mfa.totp_enrolled` and mails the user a notice.

        Raises FactorStateConflict (nothing pending, or already active), InvalidSecondFactor (403: wrong code),
        AccountGone.
        """
        user = _locked(uow, user_id)
        factor = uow.second_factors.totp(user.id)
        if factor is None or factor.is_active:
            raise FactorStateConflict("No TOTP enrolment is pending: start one with POST /users/me/mfa/totp.")
        if not self._totp_matches(factor, code):
            raise InvalidSecondFactor(status=403)
        factor.confirmed_at = utcnow()
        user.mfa_enabled = True
        session = uow.sessions.lock(session_id)
        if session is not None and session.user_id == user.id:
            session.reauthenticated(AAL2)
        self.audit.record(uow, AuditEventType.MFA_TOTP_ENROLLED, user.id, client)
        uow.outbox.send(self.mail.totp_enabled(user, client))
        return self._new_recovery_codes(uow, user, client)

    def disable_totp(self, user, session_id, code, client=NO_CLIENT):
        """Remove the TOTP factor of `user` (the caller, a UserRow) with a current `code` from it (or a recovery
        code), after a recent two-factor authentication in session `session_id`. Recovery codes go too when no
        passkey remains. Records `mfa.totp_disabled` and mails the user a notice.

        Raises StepUpRequired, FactorStateConflict (no active TOTP), InvalidSecondFactor (403), AccountGone.
        """
        self.step_up.require(user, session_id)

        def disable(uow):
            stored = _locked(uow, user.id)
            factor = uow.second_factors.totp(stored.id)
            if factor is None or not factor.is_active:
                raise FactorStateConflict("This account has no active TOTP authenticator.")
            if self.verify_code(uow, stored, code, client) is None:
                return False
            uow.entities.delete(factor)
            self.sync_mfa_enabled(uow, stored, removed_totp=True)
            self.audit.record(uow, AuditEventType.MFA_TOTP_DISABLED, stored.id, client)
            uow.outbox.send(self.mail.totp_disabled(stored, client))
            return True
        if not self.transactions.run(disable, "MfaService.disable_totp"):
            raise InvalidSecondFactor(status=403)

    # --- recovery codes -------------------------------------------------------------------------------------------
    def regenerate_recovery_codes(self, user, session_id, client=NO_CLIENT):
        """Replace every recovery code of `user` (the caller, a UserRow) after a recent authentication in session
        `session_id` (two-factor when the account has a second factor) and return the new ones (shown once).
        Records `mfa.recovery_codes_generated` and mails the user a notice (without the codes). Raises
        StepUpRequired, FactorStateConflict (no second factor: codes would recover nothing), AccountGone."""
        self.step_up.require(user, session_id)

        def regenerate(uow):
            stored = _locked(uow, user.id)
            if not stored.mfa_enabled:
                raise FactorStateConflict("Recovery codes stand in for a second factor: enrol one first.")
            uow.outbox.send(self.mail.recovery_codes_regenerated(stored, client))
            return self._new_recovery_codes(uow, stored, client)
        return self.transactions.run(regenerate, "MfaService.regenerate_recovery_codes")

    def _new_recovery_codes(self, uow, user, client):
        for old in uow.second_factors.recovery_codes(user.id):
            uow.entities.delete(old)
        codes = [new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
        for code in codes:
            uow.entities.add(RecoveryCode(user_id=user.id, code_digest=recovery_code_digest(code)))
        self.audit.record(uow, AuditEventType.MFA_RECOVERY_CODES_GENERATED, user.id, client, count=len(codes))
        return codes

    # --- checks shared by sign-in, re-authentication and removal ----------------------------------------------------
    def verify_code(self, uow, user, code, client=NO_CLIENT):
        """Check `code` against the second factors of `user` (locked in `uow`): a TOTP code (six digits; replay and
        drift rules above) or an unused recovery code (then spent, audited and mailed). Returns "totp",
        "recovery_code", or None when it proves nothing (the caller counts the failure)."""
        uow.users.require_lock(user.id)
        if is_totp_code(code):
            factor = uow.second_factors.totp(user.id)
            return "totp" if factor is not None and factor.is_active and self._totp_matches(factor, code) else None
        if uow.second_factors.delete_recovery_code(user.id, recovery_code_digest(code)):
            remaining = len(uow.second_factors.recovery_codes(user.id))
            self.audit.record(uow, AuditEventType.MFA_RECOVERY_CODE_USED, user.id, client, remaining=remaining)
            uow.outbox.send(self.mail.recovery_code_used(user, remaining, client))
            return "recovery_code"
        return None

    def factors(self, uow, user):
        """What `user` (locked in `uow`) can answer a second-factor challenge with: a list of "totp",
        "recovery_code", "passkey"."""
        totp = uow.second_factors.totp(user.id)
        return [name for name, present in (
            ("totp", totp is not None and totp.is_active),
            ("recovery_code", bool(uow.second_factors.recovery_codes(user.id))),
            ("passkey", bool(uow.second_factors.passkeys(user.id))))if present]

    def sync_mfa_enabled(self, uow, user, removed_totp=False):
        """Set `user.mfa_enabled` from the factors left (a confirmed TOTP, a passkey); without any, the recovery
        codes go too. `removed_totp`: the TOTP factor was deleted in this unit of work (not flushed yet)."""
        totp = None if removed_totp else uow.second_factors.totp(user.id)
        user.mfa_enabled = bool((totp is not None and totp.is_active) or uow.second_factors.passkeys(user.id))
        if not user.mfa_enabled:
            for code in uow.second_factors.recovery_codes(user.id):
                uow.entities.delete(code)

    # --- admin ------------------------------------------------------------------------------------------------------
    @unit_of_work
    def reset(self, uow, actor_id, user_id, client=NO_CLIENT):
        """An admin removes every second factor of user `user_id` (TOTP, recovery codes, passkeys) and ends their
        sessions, e.g. after the user lost their phone; records `mfa.reset` with the admin as actor and mails the
        user. Returns how many factors there were. Raises SelfLockout (your own: an admin removes their own factors
        as any user does, with a current code), UserNotFound."""
        if actor_id == user_id:
            raise SelfLockout("You cannot reset your own second factors: remove them yourself.")
        user = uow.users.lock(user_id)
        if user is None:
            raise UserNotFound(f"No user has id {user_id}.")
        removed = uow.second_factors.delete_all(user.id)
        user.mfa_enabled = False
        user.revoke_tokens()
        uow.sessions.end_all(user.id, "mfa_reset", utcnow())
        self.audit.record(uow, AuditEventType.MFA_RESET, user.id, client, actor_id=actor_id, factors=removed)
        uow.outbox.send(self.mail.factors_reset(user))
        return removed

    def purge_expired(self, now=None):
        """Delete pending second-factor sign-ins (MfaChallenge) and WebAuthn ceremonies that expired before `now`
        (default: now). Returns how many."""
        return self.transactions.run(lambda uow: uow.second_factors.purge_expired(now or utcnow()),
                                     "MfaService.purge_expired")

    # --- helpers --------------------------------------------------------------------------------------------------
    def _reauthenticate(self, user, session_id, current_password, client):
        """Enrolment's re-authentication: the current password for an account without a second factor, else (or
        without a password) a recent enough sign-in."""
        if current_password is None or user.mfa_enabled:
            self.step_up.require(user, session_id)
            return

        def check(uow):
            stored = _locked(uow, user.id)
            if stored.password_hash is None or not self.passwords.verify(stored.password_hash, current_password):
                self.audit.record(uow, AuditEventType.LOGIN_FAILED, stored.id, client, method="reauthentication")
                return False
            return True
        if not self.transactions.run(check, "MfaService.reauthenticate"):
            raise ReauthenticationRequired("Incorrect password.", wrong_password=True)

    def _totp_matches(self, factor, code, now=None):
        """True when `code` is the TOTP of `factor` for the current step or one step either side, later than the
        last step accepted; that step is then recorded (the code cannot be used again)."""
        if not is_totp_code(code):
            return False
        try:
            seed = self.box.decrypt(factor.secret_ciphertext)
        except SecretUnreadable:  # SECRET_KEY changed without the old one in SECRET_KEY_FALLBACKS
            logger.error("the TOTP secret of user %s cannot be decrypted: restore the old SECRET_KEY in "
                         "SECRET_KEY_FALLBACKS (its recovery codes still work)", factor.user_id)
            return False
        totp = pyotp.TOTP(seed, digits=TOTP_DIGITS)
        current = totp.timecode(now or utcnow())
        for step in (current - 1, current, current + 1):
            if factor.last_used_step is not None and step <= factor.last_used_step:
                continue
            if hmac.compare_digest(totp.generate_otp(step), code):
                factor.last_used_step = step
                return True
        return False


def _locked(uow, user_id):
    user = uow.users.lock(user_id)
    if user is None:
        raise AccountGone()
    return user


def _qr_svg(uri):
    """`uri` as a QR code: a standalone SVG document (text)."""
    out = io.BytesIO()
    segno.make(uri, error="m").save(out, kind="svg", scale=4, xmldecl=False, nl=False)
    return out.getvalue().decode()
