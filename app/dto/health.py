"""Schema of the /health and /ready answers."""
from marshmallow import Schema, fields


class HealthStatus(Schema):
    """`{"status": "ok"}`: the probe passed (failures are 503 problems)."""

    status = fields.String(required=True, metadata={"enum": ["ok"], "example": "ok"})


health_status = HealthStatus()
