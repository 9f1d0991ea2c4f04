"""Email verification: a mailed single-use token proves the owner receives mail at the account's address."""
import transaction
from flask import Config
from injector import inject

from app.entities import AuditEventType, TokenPurpose, User
from app.entities.types import utcnow
from app.errors import InvalidOneTimeToken, UserNotFound
from app.extensions import db
from app.services.account_mail import AccountMail
from app.services.audit import NO_CLIENT, AuditService
from app.services.events import UserEvents
from app.services.one_time_tokens import OneTimeTokenService


class EmailVerificationService:
    """Sends and redeems verification tokens (`EMAIL_VERIFICATION_TTL` seconds, default 2 days). Singleton."""

    @inject
    def __init__(self, config: Config, tokens: OneTimeTokenService, mail: AccountMail, audit: AuditService):
        self.ttl = config["EMAIL_VERIFICATION_TTL"]
        self.tokens = tokens
        self.mail = mail
        self.audit = audit

    def send(self, user):
        """Issue a token for `user` (a flushed User) and queue the message, in the current transaction."""
        self.mail.verification(user, self.tokens.issue(user, TokenPurpose.VERIFY_EMAIL, self.ttl))

    def resend(self, user_id):
        """Send a new verification message (the previous token stops working). Returns False, sending nothing, when
        the email is verified already. Raises UserNotFound."""
        with transaction.manager:
            user = db.session.get(User, user_id)
            if user is None:
                raise UserNotFound(f"No user has id {user_id}.")
            if user.email_verified:
                return False
            self.send(user)
        return True

    def verify(self, token, client=NO_CLIENT):
        """Mark the email the token was sent to as verified. Raises InvalidOneTimeToken (unknown, expired, used,
        superseded, or the account's email changed since it was sent)."""
        with transaction.manager:
            found = self.tokens.redeem(token, TokenPurpose.VERIFY_EMAIL)
            user = db.session.get(User, found.user_id, with_for_update=True)
            if user is None or user.email != found.email:
                raise InvalidOneTimeToken()
            if user.email_verified_at is None:
                user.email_verified_at = utcnow()
                self.audit.record(AuditEventType.EMAIL_VERIFIED, user.id, client)


class MailingUserEvents(UserEvents):
    """The default UserEvents: a new account with a password gets a verification message, queued in the
    registration's transaction (so no mail for a registration that rolls back, and no account if queuing fails)."""

    @inject
    def __init__(self, verification: EmailVerificationService):
        self.verification = verification

    def user_created(self, user):
        if user.email_verified_at is None:
            self.verification.send(user)
