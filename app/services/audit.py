"""The audit trail: `AuditService.record` adds a security event to the current transaction; admins list them.

Events are written by the use case that causes them, inside its unit of work (app/unit_of_work.py), so an event exists
exactly when its change was committed. A failed credential attempt (login, social login, a wrong current password)
commits its own event. Redeeming an unknown mailed token records nothing: it names no account.

Listeners (`AuditService.add_listener`, e.g. the Prometheus counters of app/observability/metrics.py) hear of each
event once its transaction has committed, so they count exactly what the trail holds.
"""
import logging
from dataclasses import dataclass

import transaction
from sqlalchemy import bindparam, select

from app.entities import AuditEvent
from app.entities.audit_event import IP_MAX_LENGTH, USER_AGENT_MAX_LENGTH
from app.extensions import db
from app.services.pagination import DEFAULT_PAGE_SIZE, paginate, sort_orders

logger = logging.getLogger(__name__)
_EVENTS = AuditEvent.__table__.c
# Newest first: the id is the tiebreak and the key (ids grow with time).
AUDIT_SORTS = sort_orders(_EVENTS.id, id=_EVENTS.id)


@dataclass(frozen=True)
class ClientInfo:
    """Who is on the other end of a request, for the audit trail: the client address (as the WSGI server and any
    trusted proxy report it) and the User-Agent header. Built by the controllers; services never read `request`."""

    ip_address: str | None = None
    user_agent: str | None = None


NO_CLIENT = ClientInfo()


class AuditService:
    """Records and lists security events. Bind as singleton: it holds only the listeners, added at app creation."""

    def __init__(self):
        self._listeners = ()

    def add_listener(self, listener):
        """Call `listener(event_type, details)` (the event's type as a str, its `details` dict) for each event
        recorded from now on, after its transaction commits; never for a rolled-back one. Listeners run in the
        committing thread and must be quick; an exception they raise is logged, never propagated."""
        self._listeners = (*self._listeners, listener)

    def record(self, event_type, user_id=None, client=NO_CLIENT, actor_id=None, **details):
        """Add an `AuditEvent` of `event_type` (an AuditEventType) to the current transaction. `details`: small
        JSON-serializable values (never secrets). Must be called inside a unit of work."""
        event = AuditEvent(type=str(event_type), user_id=user_id, actor_id=actor_id,
                           ip_address=(client.ip_address or None) and client.ip_address[:IP_MAX_LENGTH],
                           user_agent=(client.user_agent or None) and client.user_agent[:USER_AGENT_MAX_LENGTH],
                           details=details)
        db.session.add(event)
        if self._listeners:
            current = transaction.get()
            try:
                pending = current.data(self)
            except KeyError:
                pending = _CommittedEvents(self._listeners)
                current.join(pending)
                current.set_data(self, pending)
            pending.events.append((event.type, details))
        return event

    def list(self, limit=DEFAULT_PAGE_SIZE, cursor=None, user_id=None, event_type=None):
        """A Page of AuditEvent rows, newest first, filtered by `user_id` and/or `event_type` (both exact).
        Raises ValidationFailed for a bad cursor."""
        params = {"user_id": user_id, "event_type": event_type}

        def build():
            query = select(*AuditEvent.__table__.c)
            if user_id is not None:
                query = query.where(_EVENTS.user_id == bindparam("user_id"))
            if event_type is not None:
                query = query.where(_EVENTS.type == bindparam("event_type"))
            return query

        return paginate(build, params, AUDIT_SORTS["-id"], limit, cursor)


class _CommittedEvents:
    """A zope.transaction data manager holding one transaction's audit events: it tells the listeners about them
    when the transaction has committed (tpc_finish), and forgets them when it aborts. It writes nothing itself."""

    def __init__(self, listeners):
        self.listeners = listeners
        self.events = []
        self.transaction_manager = transaction.manager

    def sortKey(self):  # noqa: N802  (the IDataManager interface)
        return "~gatehouse.audit-listeners"  # last: after the database and the mail queue

    def tpc_finish(self, _transaction):
        events, self.events = self.events, []
        for event_type, details in events:
            for listener in self.listeners:
                try:
                    listener(event_type, details)
                except Exception:  # a listener (metrics) must never fail a committed transaction
                    logger.exception("audit listener failed")

    def abort(self, _transaction):
        self.events = []

    tpc_abort = abort

    def tpc_begin(self, _transaction):
        pass

    def commit(self, _transaction):
        pass

    def tpc_vote(self, _transaction):
        pass
