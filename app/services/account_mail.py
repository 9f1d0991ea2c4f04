"""The messages Gatehouse mails to account holders: email verification and password reset.

Links come from `EMAIL_VERIFICATION_URL` and `PASSWORD_RESET_URL`, templates with a `{token}` placeholder pointing at
the client application's pages; without them the message carries the token and the API call that redeems it.
"""
from urllib.parse import quote

from flask import Config
from injector import inject

from app.services.ports import OutgoingMessage

VERIFY_SUBJECT = "Confirm your email address"
RESET_SUBJECT = "Reset your password"


class AccountMail:
    """Composes account messages (OutgoingMessage); use cases put them in their unit of work's outbox. Singleton."""

    @inject
    def __init__(self, config: Config):
        self.verify_url = config["EMAIL_VERIFICATION_URL"]
        self.reset_url = config["PASSWORD_RESET_URL"]
        self.verify_lifetime = _duration(config["EMAIL_VERIFICATION_TTL"])
        self.reset_lifetime = _duration(config["PASSWORD_RESET_TTL"])

    def verification(self, user, token):
        """The verification message for `user.email` carrying `token`."""
        return OutgoingMessage(user.email, VERIFY_SUBJECT, (
            f"Hello {user.name},\n\n"
            f"Confirm that this address belongs to your Gatehouse account:\n\n"
            f"{_action(self.verify_url, token, 'POST /api/v1/auth/verify-email')}\n\n"
            f"The link works once, for {self.verify_lifetime}. If you did not sign up, ignore this message.\n"))

    def password_reset(self, user, token):
        """The password reset message for `user.email` carrying `token`."""
        return OutgoingMessage(user.email, RESET_SUBJECT, (
            f"Hello {user.name},\n\n"
            f"Someone asked to reset the password of your Gatehouse account. To choose a new password:\n\n"
            f"{_action(self.reset_url, token, 'POST /api/v1/auth/password-reset/confirm')}\n\n"
            f"The link works once, for {self.reset_lifetime}, and every session of the account ends when the "
            f"password changes. If you did not ask for this, ignore this message: your password stays as it is.\n"))


def _duration(seconds):
    """A lifetime in words, in its largest whole unit: "2 days", "1 hour", "90 seconds"."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


def _action(url_template, token, api_call):
    if url_template:
        return url_template.replace("{token}", quote(token, safe=""))
    return f"Token: {token}\n(send it as {{\"token\": \"...\"}} to {api_call})"
