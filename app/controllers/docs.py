"""Shared OpenAPI annotations for controllers."""
from flask_apispec import marshal_with

from app.dto.problem import problem_schema

PROBLEM_DESCRIPTIONS = {
    400: "Malformed JSON or invalid fields (problem with `errors`)",
    401: "Missing, invalid or expired bearer token, or wrong credentials",
    403: "Authenticated, but lacking the required role",
    404: "No such resource",
    409: "Conflicts with the current state (email taken, action on your own account)",
    413: "Request body larger than MAX_CONTENT_LENGTH",
    415: "Request body is not JSON",
    503: "Database unavailable",
}
BEARER = [{"bearerAuth": []}]


def problems(*codes):
    """Document RFC 9457 problem responses for `codes` (documentation only: errors are raised, not returned)."""
    def decorate(func):
        for code in codes:
            func = marshal_with(problem_schema, code=code, description=PROBLEM_DESCRIPTIONS[code])(func)
        return func
    return decorate
