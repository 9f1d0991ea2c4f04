"""The `UserEvents` collaborator: told about account changes inside the transaction that makes them.

If a method raises, the surrounding transaction aborts and nothing is written. The default, `MailingUserEvents`
(app/services/email_verification.py), queues a verification message in the same unit of work; a deployment
that verifies addresses some other way binds its own implementation in app/dependencies.py.
"""


class UserEvents:
    """Interface. Implementations must not commit; raising aborts the caller's transaction."""

    def user_created(self, uow, user):
        """Called in unit of work `uow` after a new `User` is added (it has an id), before commit."""
        raise NotImplementedError

