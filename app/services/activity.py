"""When and where sessions and personal access tokens are used, recorded without writing on every request.

Bearer authentication reads `last_used_at` with the session or token it checks anyway (no extra query) and writes
only when that is at least ACTIVITY_INTERVAL old, or, for a personal access token, when the request comes from
another address than its last use (audited: `personal_access_token.new_address`). So a busy session writes once a
minute, not once a request (measured by tests/test_activity.py and bench/activity_writes.py). The write is one
conditional UPDATE of one row: of concurrent requests, one writes.
"""
import datetime as dt
import logging

from injector import inject

from app.entities import AuditEventType
from app.entities.types import utcnow
from app.services.audit import NO_CLIENT, AuditService
from app.services.devices import stored_ip, stored_user_agent
from app.services.ports import Transactions

ACTIVITY_INTERVAL = dt.timedelta(seconds=60)
logger = logging.getLogger(__name__)


class ActivityService:
    """Records the use of sessions and personal access tokens. Stateless: bind as singleton."""

    @inject
    def __init__(self, transactions: Transactions, audit: AuditService):
        self.transactions = transactions
        self.audit = audit

    def recorded(self, record, *args):
        """Call `record(*args)` (`session_used` or `personal_token_used`); when it fails (a lock wait, a busy or
        read-only database), log it and carry on: bookkeeping never fails the request it rides on. Returns
        whether it wrote."""
        try:
            return record(*args)
        except Exception:  # the request is authenticated already; its last-use time can wait a minute
            logger.warning("could not record session or token activity", exc_info=True)
            return False

    def session_used(self, session_id, last_used_at, client=NO_CLIENT, now=None):
        """Record that session `session_id` (last used at `last_used_at`, an aware datetime) serves a request from
        `client` (a ClientInfo), unless it was recorded less than ACTIVITY_INTERVAL ago. Returns whether it wrote."""
        now = now or utcnow()
        if last_used_at > now - ACTIVITY_INTERVAL:
            return False
        return self.transactions.run(lambda uow: uow.credentials.record_session_use(
            session_id, now, stored_ip(client), stored_user_agent(client), now - ACTIVITY_INTERVAL),
            "ActivityService.session_used")

    def personal_token_used(self, use, client=NO_CLIENT, now=None):
        """Record that the personal access token of `use` (a PersonalTokenUse) serves a request from `client`, when
        its last recorded use is at least ACTIVITY_INTERVAL old or came from another address; a use from another
        address is audited. Returns whether it wrote."""
        now = now or utcnow()
        address = stored_ip(client)
        new_address = address != use.last_used_from
        if not new_address and use.last_used_at is not None and use.last_used_at > now - ACTIVITY_INTERVAL:
            return False

        def record(uow):
            wrote = uow.credentials.record_token_use(use.token_id, now, address, now - ACTIVITY_INTERVAL)
            if wrote and new_address:
                self.audit.record(uow, AuditEventType.PERSONAL_TOKEN_NEW_ADDRESS, use.user.id, client,
                                  token_id=use.token_id, previous_address=use.last_used_from)
            return wrote
        return self.transactions.run(record, "ActivityService.personal_token_used")
