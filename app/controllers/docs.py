"""Shared OpenAPI annotations for controllers."""
from flask_apispec import doc, marshal_with

from app.dto.problem import problem_schema

PROBLEM_DESCRIPTIONS = {
    400: "Malformed JSON or invalid fields, or an invalid, used or expired mailed token (problem with `errors`)",
    401: "Missing, invalid or expired bearer token, or wrong credentials (email and password, refresh token, "
         "ID token)",
    403: "Authenticated, but lacking the required role (or, on PATCH /users/me, the correct current_password)",
    404: "No such resource (or identity provider)",
    409: "Conflicts with the current state (email taken, action on your own account)",
    412: "If-Match does not match the current ETag: the resource changed since it was read",
    413: "Request body larger than MAX_CONTENT_LENGTH",
    415: "Request body is not JSON",
    428: "If-Match is required (REQUIRE_IF_MATCH) and was not sent",
    429: "Too many attempts: wait the `Retry-After` seconds (limits: RATELIMIT_PER_ADDRESS, RATELIMIT_PER_ACCOUNT)",
    503: "The database, the mail queue or the identity provider's keys are unavailable; nothing was written",
}
BEARER = [{"bearerAuth": []}]


def problems(*codes):
    """Document RFC 9457 problem responses for `codes` (documentation only: errors are raised, not returned)."""
    def decorate(func):
        for code in codes:
            func = marshal_with(problem_schema, code=code, description=PROBLEM_DESCRIPTIONS[code])(func)
        return func
    return decorate


ETAG_HEADER = {"ETag": {"type": "string", "description": "Strong validator of this representation (RFC 9110 8.8.3)"}}
LOCATION_HEADER = {"Location": {"type": "string", "description": "URL of the created resource"}}
LINK_HEADER = {"Link": {"type": "string", "description": 'RFC 8288 `<url>; rel="next"` when there is a next page'}}
IF_MATCH = {"name": "If-Match", "in": "header", "type": "string", "required": False,
            "description": "ETag from your last GET; a stale one answers 412 and changes nothing"}
IF_NONE_MATCH = {"name": "If-None-Match", "in": "header", "type": "string", "required": False,
                 "description": "ETag you hold; answers 304 Not Modified when it is still current"}
NOT_MODIFIED = {304: {"description": "Not Modified: the ETag in If-None-Match is current"}}


def headers(code, description, **named):
    """`@doc(responses=...)` fragment documenting response headers for status `code`."""
    return {code: {"description": description, "headers": named}}


def no_content_response(description):
    """Document a 204 answer: no schema, since it has no content (a `schema` would make clients parse a body)."""
    return doc(responses={204: {"description": description}})
