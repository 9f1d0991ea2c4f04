"""The read side of the audit trail: pages of events, newest first, for admins."""
from sqlalchemy import bindparam, select

from app.entities import AuditEvent
from app.queries.pagination import DEFAULT_PAGE_SIZE, paginate, sort_orders

_EVENTS = AuditEvent.__table__.c
# Newest first: the id is the tiebreak and the key (ids grow with time).
AUDIT_SORTS = sort_orders(_EVENTS.id, id=_EVENTS.id)


class AuditQueries:
    """Reads of the audit trail on the request's read connection. Stateless: bind as singleton."""

    def page(self, limit=DEFAULT_PAGE_SIZE, cursor=None, user_id=None, event_type=None):
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
