"""Password reset by mailed single-use token (OWASP Forgot Password Cheat Sheet).

A request answers the same whether or not the email is registered, and does comparable work either way (one
transaction writing an audit event); a confirmed reset sets the password, marks the email verified (the token
proved the owner reads it) and ends every session of the account.
"""
import time

from flask import Config
from injector import inject

from app.entities import AuditEventType, TokenPurpose
from app.entities.types import utcnow
from app.entities.user import normalize_email
from app.errors import DependencyUnavailable, InvalidOneTimeToken
from app.services.account_mail import AccountMail
from app.services.audit import NO_CLIENT, AuditService
from app.services.one_time_tokens import OneTimeTokenService
from app.services.passwords import PasswordService
from app.services.ports import Transactions, unit_of_work
from app.services.sessions import SessionService

# Seconds a reset request takes at least, whatever the address: mailing a token (a row, a queue file) costs a few
# ms that an unknown address does not, and bench/enumeration_timing.py measured that difference (+60%). Above the
# slowest real request, so both answers leave at the floor.
REQUEST_RESPONSE_FLOOR = 0.1


class PasswordResetService:
    """Requests and confirms password resets (`PASSWORD_RESET_TTL` seconds, default 1 hour). Singleton."""

    @inject
    def __init__(self, config: Config, transactions: Transactions, tokens: OneTimeTokenService, mail: AccountMail,
                 audit: AuditService,
                 passwords: PasswordService, sessions: SessionService):
        self.ttl = config["PASSWORD_RESET_TTL"]
        self.transactions = transactions
        self.tokens = tokens
        self.mail = mail
        self.audit = audit
        self.passwords = passwords
        self.sessions = sessions

    def request(self, email, client=NO_CLIENT):
        """Mail a reset token to `email` if an active account has it; otherwise do nothing visible. Returns None
        either way, after at least REQUEST_RESPONSE_FLOOR seconds either way (callers must not be able to tell).
        The previous reset token of the account stops working."""
        started = time.monotonic()
        found = []

        def request(uow):
            # A locking read: an account deleted meanwhile is not found (and no token refers to a row being deleted).
            user = uow.users.lock_by_email(normalize_email(email))
            found[:] = [user]
            if user is not None and user.is_active:
                token = self.tokens.issue(uow, user, TokenPurpose.RESET_PASSWORD, self.ttl)
                uow.outbox.send(self.mail.password_reset(user, token))
            self.audit.record(uow, AuditEventType.PASSWORD_RESET_REQUESTED, user.id if user is not None else None,
                              client)

        try:
            self.transactions.run(request, "PasswordResetService.request")
        except DependencyUnavailable:
            # The mail queue is down: no token was issued (rolled back). Answering 503 only for registered
            # addresses would tell them apart, so the caller gets the same answer; the failure is logged (mail.py)
            # and audited.
            self.transactions.run(lambda uow: self.audit.record(
                uow, AuditEventType.PASSWORD_RESET_REQUESTED, found[0].id, client, mail_queued=False),
                "PasswordResetService.request.audit")
        finally:
            time.sleep(max(0.0, REQUEST_RESPONSE_FLOOR - (time.monotonic() - started)))

    @unit_of_work
    def confirm(self, uow, token, new_password, client=NO_CLIENT):
        """Set `new_password` on the account the token was sent for, end all its sessions, record `password.reset`
        and mail the account a notice (AccountMail.password_reset_done).

        Raises InvalidOneTimeToken (unknown, expired, used, superseded, account inactive or its email changed) or
        ValidationFailed (password policy). A rejected password aborts the transaction, which undoes the token's
        redemption: the token stays usable.
        """
        found, user = self.tokens.redeem(uow, token, TokenPurpose.RESET_PASSWORD)
        if not user.is_active or user.email != found.email:
            raise InvalidOneTimeToken()
        self.passwords.check_policy(new_password, user.email, field="new_password")
        user.password_hash = self.passwords.hash(new_password)
        uow.outbox.send(self.mail.password_reset_done(user, client))
        if user.email_verified_at is None:
            user.email_verified_at = utcnow()
        self.sessions.sign_out_everywhere(uow, user, "password_reset", client,
                                          personal_tokens=self.sessions.ends_tokens_on_reset)
        self.audit.record(uow, AuditEventType.PASSWORD_RESET, user.id, client)
