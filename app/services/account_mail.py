"""The messages Gatehouse mails to account holders: email verification and password reset, and the security notices
of second factors (a recovery code used, an admin's reset). No message carries a secret but the mailed tokens.

Links come from `EMAIL_VERIFICATION_URL` and `PASSWORD_RESET_URL`, templates with a `{token}` placeholder pointing at
the client application's pages; without them the message carries the token and the API call that redeems it.
"""
from urllib.parse import quote

from flask import Config
from injector import inject

from app.services.ports import OutgoingMessage

VERIFY_SUBJECT = "Confirm your email address"
RESET_SUBJECT = "Reset your password"
RECOVERY_CODE_SUBJECT = "A recovery code was used"
FACTORS_RESET_SUBJECT = "Your second factors were reset"


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

    def recovery_code_used(self, user, remaining):
        """The notice that a recovery code of `user` signed in; `remaining` unused codes are left."""
        return OutgoingMessage(user.email, RECOVERY_CODE_SUBJECT, (
            f"Hello {user.name},\n\n"
            f"One of the recovery codes of your Gatehouse account was just used in place of your second factor. "
            f"{remaining} unused code{'s' if remaining != 1 else ''} remain.\n\n"
            f"If this was not you, change your password and create new recovery codes at once, and contact an "
            f"administrator.\n"))

    def factors_reset(self, user):
        """The notice that an admin removed every second factor of `user` and ended their sessions."""
        return OutgoingMessage(user.email, FACTORS_RESET_SUBJECT, (
            f"Hello {user.name},\n\n"
            f"An administrator removed the second factors (authenticator app, passkeys, recovery codes) of your "
            f"Gatehouse account and signed it out everywhere. Sign in with your password and set up a second "
            f"factor again.\n\n"
            f"If you did not ask for this, contact an administrator at once.\n"))


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
