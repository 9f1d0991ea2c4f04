"""Email verification: a mailed single-use token proves the owner receives mail at the account's address."""
from flask import Config
from injector import inject

from app.entities import AuditEventType, TokenPurpose
from app.entities.types import utcnow
from app.errors import AccountGone, InvalidOneTimeToken
from app.services.account_mail import AccountMail
from app.services.audit import NO_CLIENT, AuditService
from app.services.events import UserEvents
from app.services.one_time_tokens import OneTimeTokenService
from app.services.ports import Transactions, unit_of_work


class EmailVerificationService:
    """Sends and redeems verification tokens (`EMAIL_VERIFICATION_TTL` seconds, default 2 days). Singleton."""

    @inject
    def __init__(self, config: Config, transactions: Transactions, tokens: OneTimeTokenService, mail: AccountMail,
                 audit: AuditService):
        self.ttl = config["EMAIL_VERIFICATION_TTL"]
        self.transactions = transactions
        self.tokens = tokens
        self.mail = mail
        self.audit = audit

    def send(self, uow, user):
        """Issue a token for `user` (a User locked or added by `uow`) and put the message in `uow`'s outbox."""
        uow.outbox.send(self.mail.verification(user, self.tokens.issue(uow, user, TokenPurpose.VERIFY_EMAIL, self.ttl)))

    @unit_of_work
    def resend(self, uow, user_id):
        """Send a new verification message to user `user_id` (the previous token stops working). Returns False,
        sending nothing, when the email is verified already. Raises AccountGone (the caller's account was deleted
        meanwhile)."""
        user = uow.users.lock(user_id)
        if user is None:
            raise AccountGone()
        if user.email_verified:
            return False
        self.send(uow, user)
        return True

    @unit_of_work
    def verify(self, uow, token, client=NO_CLIENT):
        """Mark the email the token was sent to as verified. Raises InvalidOneTimeToken (unknown, expired, used,
        superseded, or the account's email changed since it was sent)."""
        found, user = self.tokens.redeem(uow, token, TokenPurpose.VERIFY_EMAIL)
        if user.email != found.email:
            raise InvalidOneTimeToken()
        if user.email_verified_at is None:
            user.email_verified_at = utcnow()
            self.audit.record(uow, AuditEventType.EMAIL_VERIFIED, user.id, client)


class MailingUserEvents(UserEvents):
    """The default UserEvents: a new account with a password gets a verification message, queued in the
    registration's transaction (so no mail for a registration that rolls back, and no account if queuing fails)."""

    @inject
    def __init__(self, verification: EmailVerificationService):
        self.verification = verification

    def user_created(self, uow, user):
        if user.email_verified_at is None:
            self.verification.send(uow, user)
