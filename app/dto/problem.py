"""RFC 9457 problem details, for the OpenAPI document (the handlers in app/problems.py build the bodies)."""
from marshmallow import INCLUDE, Schema, fields


class ProblemSchema(Schema):
    """`application/problem+json` body. `errors` maps field names to messages on validation problems. Open to
    extension members (RFC 9457 3.2): clients must ignore members they do not know."""

    class Meta:
        unknown = INCLUDE  # documented as `additionalProperties: true`

    type = fields.String(required=True, metadata={"example": "about:blank"})
    title = fields.String(required=True, metadata={"example": "Not Found"})
    status = fields.Integer(required=True, metadata={"example": 404})
    detail = fields.String(required=True, metadata={"example": "No user has id 42."})
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()),
                         metadata={"example": {"email": ["Not a valid email address."]}})


problem_schema = ProblemSchema()
