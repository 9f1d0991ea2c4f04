"""/api/v1/audit-events: the security audit trail, for admins."""
from flask_apispec import doc, marshal_with, use_kwargs
from injector import inject

from app.controllers.docs import LINK_HEADER, problems
from app.controllers.resource import ApiResource, next_page_link
from app.controllers.security import requires
from app.dto.audit import audit_event_list, audit_event_query
from app.entities import Role
from app.entities.scope import Scope
from app.services.audit import AuditService


class AuditEventCollection(ApiResource):
    """Security events, newest first."""

    @inject
    def __init__(self, audit: AuditService):
        self.audit = audit

    @requires(Scope.ADMIN, role=Role.ADMIN.value)
    @doc(tags=["audit"], operationId="listAuditEvents", summary="List security events (admin)",
         description="Logins (successful and failed), refresh token reuse, logouts, password changes and resets, "
                     "email verification, role and activation changes, deletions and social links, newest first. "
                     "Keyset pagination as on GET /users.",
         responses={200: {"description": "A page of events", "headers": LINK_HEADER}})
    @use_kwargs(audit_event_query, location="query")
    @marshal_with(audit_event_list, code=200)
    @problems(400, 503)
    def get(self, limit, cursor, user_id=None, type=None):  # noqa: A002  (the query parameter's name)
        page = self.audit.list(limit=limit, cursor=cursor, user_id=user_id, event_type=type)
        return page, 200, next_page_link("api.audit_events", page, {"user_id": user_id, "type": type, "limit": limit})


RESOURCES = [("/audit-events", AuditEventCollection, "audit_events")]
