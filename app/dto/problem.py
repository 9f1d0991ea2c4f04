"""RFC 9457 problem details, for the OpenAPI document (the handlers in app/problems.py build the bodies)."""
from marshmallow import Schema, fields


class ProblemSchema(Schema):
    """`application/problem+json` body. `errors` maps field names to messages on validation problems."""

    type = fields.String(metadata={"example": "about:blank"})
    title = fields.String(metadata={"example": "Not Found"})
    status = fields.Integer(metadata={"example": 404})
    detail = fields.String(metadata={"example": "No user has id 42."})
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))


problem_schema = ProblemSchema()
