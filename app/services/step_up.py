"""Step-up authentication for sensitive operations (RFC 9470; ASVS 5.0 7.5).

A sensitive operation (changing the password or an email, removing a second factor, deleting an account, an admin's
change to roles or activation, minting credentials) needs a recent authentication in the caller's session: at most
STEP_UP_MAX_AGE seconds old, and of class "aal2" when the account has a second factor ("aal1" otherwise). Sessions
record both at sign-in and at re-authentication (POST /auth/reauthenticate). Otherwise the operation answers RFC
9470's `insufficient_user_authentication` with the `acr_values` and `max_age` it needs.
"""
import datetime as dt

from flask import Config
from injector import inject

from app.entities.scope import Scope
from app.entities.session import AAL1, AAL2, ACR_RANK
from app.entities.types import utcnow
from app.errors import InsufficientScope, StepUpRequired
from app.queries.users import UserQueries


class StepUpService:
    """Checks that a session's authentication is recent and strong enough. Stateless: bind as singleton."""

    @inject
    def __init__(self, config: Config, queries: UserQueries):
        self.queries = queries
        self.max_age = config["STEP_UP_MAX_AGE"]  # seconds

    def needed(self, user):
        """The authentication context class an account needs for sensitive operations: AAL2 when it has a second
        factor (`user.mfa_enabled`), else AAL1."""
        return AAL2 if user.mfa_enabled else AAL1

    def satisfied(self, user, session_id, now=None):
        """True when session `session_id` of `user` (a User or UserRow) was authenticated at most `max_age` seconds
        ago with at least the class `needed(user)`."""
        authentication = self.queries.authentication(session_id)
        if authentication is None:
            return False
        auth_time, acr = authentication
        fresh = auth_time >= (now or utcnow()) - dt.timedelta(seconds=self.max_age)
        return fresh and ACR_RANK.get(acr, 0) >= ACR_RANK[self.needed(user)]

    def require(self, user, session_id):
        """Raise StepUpRequired (401, `insufficient_user_authentication`, with `acr_values` and `max_age`) unless
        `satisfied(user, session_id)`. A token that is not a sign-in session (`session_id` None: a personal access
        token, a service account) cannot re-authenticate: InsufficientScope (403) for the `credentials` scope only
        sign-in sessions hold."""
        if session_id is None:
            raise InsufficientScope(str(Scope.CREDENTIALS))
        if not self.satisfied(user, session_id):
            raise StepUpRequired(self.needed(user), self.max_age)
