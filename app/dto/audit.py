"""Schemas of the audit trail resource."""
from marshmallow import Schema, fields, validate

from app.dto import fields as f
from app.dto.list_query import ListQuery
from app.entities.audit_event import AuditEventType


class AuditEventPublic(Schema):
    """One security event. `user_id`: the account it is about (null when unknown); `actor_id`: the admin who
    caused it, if not the user; `details`: event-specific values (never secrets)."""

    id = fields.Integer(required=True, metadata={"example": 7})
    type = fields.String(required=True, metadata={"enum": AuditEventType.values(), "example": "login.failed"})
    user_id = fields.Integer(required=True, allow_none=True, metadata={"example": 1})
    actor_id = fields.Integer(required=True, allow_none=True, metadata={"example": None})
    ip_address = fields.String(required=True, allow_none=True, metadata={"example": "203.0.113.7"})
    user_agent = fields.String(required=True, allow_none=True, metadata={"example": "curl/8.5.0"})
    details = fields.Dict(required=True, metadata={"example": {"method": "password"}})
    created_at = f.UtcIsoDateTime(required=True, metadata={"example": "2026-01-01T12:00:00+00:00"})

    def get_attribute(self, obj, attr, default):
        return getattr(obj, attr, default)  # rows of a Core query: attribute access only


class AuditEventList(Schema):
    """A page of events, newest first. `next_cursor` is null on the last page."""

    items = fields.Nested(AuditEventPublic, many=True, required=True)
    next_cursor = fields.String(required=True, allow_none=True, metadata={"example": None})


class AuditEventQuery(ListQuery):
    """GET /audit-events query. Empty parameters are absent."""

    user_id = f.DecimalInteger(validate=validate.Range(min=1, max=2**63 - 1),
                             metadata={"description": "Only events about this user."})
    type = fields.String(validate=validate.OneOf(AuditEventType.values()),
                         metadata={"description": "Only events of this type."})


audit_event_list = AuditEventList()
audit_event_query = AuditEventQuery()
