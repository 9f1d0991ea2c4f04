"""The audit trail: `AuditService.record` adds a security event to the current transaction; admins list them.

Events are written by the use case that causes them, inside its unit of work (app/services/ports.py), so an event exists
exactly when its change was committed. A failed credential attempt (login, social login, a wrong current password)
commits its own event. Redeeming an unknown mailed token records nothing: it names no account.

Listeners (`AuditService.add_listener`, e.g. the Prometheus counters of app/observability/metrics.py) hear of each
event once its transaction has committed, so they count exactly what the trail holds.
"""
import functools
import logging
from dataclasses import dataclass

from injector import inject

from app.entities import AuditEvent
from app.queries.audit import AuditQueries
from app.queries.pagination import DEFAULT_PAGE_SIZE
from app.services.devices import stored_ip, stored_user_agent

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClientInfo:
    """Who is on the other end of a request, for the audit trail: the client address (as the WSGI server and any
    trusted proxy report it) and the User-Agent header. Built by the controllers; services never read `request`."""

    ip_address: str | None = None
    user_agent: str | None = None
    # The credential the request used when it was not a sign-in session: "personal_access_token:<id>" or
    # "service_account:<client_id>"; recorded in the details of the events it causes.
    credential: str | None = None


NO_CLIENT = ClientInfo()


class AuditService:
    """Records and lists security events. Bind as singleton: it holds only the listeners, added at app creation."""

    @inject
    def __init__(self, queries: AuditQueries):
        self.queries = queries
        self._listeners = ()

    def add_listener(self, listener):
        """Call `listener(event_type, details)` (the event's type as a str, its `details` dict) for each event
        recorded from now on, after its transaction commits; never for a rolled-back one. Listeners run in the
        committing thread and must be quick; an exception they raise is logged, never propagated."""
        self._listeners = (*self._listeners, listener)

    def record(self, uow, event_type, user_id=None, client=NO_CLIENT, actor_id=None, **details):
        """Add an `AuditEvent` of `event_type` (an AuditEventType) to unit of work `uow`. `details`: small
        JSON-serializable values (never secrets); the credential of `client`, if any, is added as `credential`. The
        listeners hear of it once `uow` commits."""
        if client.credential:
            details = {**details, "credential": client.credential}
        event = AuditEvent(type=str(event_type), user_id=user_id, actor_id=actor_id,
                           ip_address=stored_ip(client), user_agent=stored_user_agent(client),
                           details=details)
        uow.audit_events.add(event)
        if self._listeners:
            uow.after_commit(functools.partial(self._tell_listeners, event.type, details))
        return event

    def list(self, limit=DEFAULT_PAGE_SIZE, cursor=None, user_id=None, event_type=None):
        """A Page of AuditEvent rows, newest first, filtered by `user_id` and/or `event_type` (both exact).
        Raises ValidationFailed for a bad cursor."""
        return self.queries.page(limit, cursor, user_id, event_type)

    def _tell_listeners(self, event_type, details):
        for listener in self._listeners:
            try:
                listener(event_type, details)
            except Exception:  # a listener (metrics) must never fail a committed transaction
                logger.exception("audit listener failed")
