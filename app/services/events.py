"""The `UserEvents` collaborator: told about account changes inside the transaction that makes them.

If a method raises, the surrounding transaction aborts and nothing is written. The default, `MailingUserEvents`
(app/services/email_verification.py), queues a verification message in the same zope transaction;
`LoggingUserEvents` only logs (for deployments that verify addresses some other way).
"""
import logging

logger = logging.getLogger("gatehouse.events")


class UserEvents:
    """Interface. Implementations must not commit; raising aborts the caller's transaction."""

    def user_created(self, user):
        """Called after a new `User` is flushed (it has an id), before commit."""
        raise NotImplementedError


class LoggingUserEvents(UserEvents):
    """Default implementation: one log line per event, with the id only (no personal data)."""

    def user_created(self, user):
        logger.info("user created", extra={"user_id": user.id})
