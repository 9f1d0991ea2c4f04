"""Shared OpenAPI annotations for controllers (OpenAPI 3.1 shapes: parameter and header objects carry `schema`)."""
from flask_apispec import doc, marshal_with

from app.dto.problem import problem_schema

PROBLEM_DESCRIPTIONS = {
    400: "Malformed JSON or invalid fields, or an invalid, used or expired mailed token (problem with `errors`)",
    401: "Missing, invalid or expired bearer token, or wrong credentials (email and password, refresh token, "
         "ID token, second factor); on a sensitive operation, `insufficient_user_authentication` (RFC 9470): "
         "re-authenticate (POST /auth/reauthenticate) and retry",
    403: "Authenticated, but lacking the required role, a scope the operation needs (`insufficient_scope`, RFC "
         "6750 3.1: a personal access token or a service account's token without it), a second factor an admin "
         "must have (`mfa-enrolment-required`), or the correct current password or code",
    404: "No such resource (or identity provider)",
    409: "Conflicts with the current state (email taken, action on your own account)",
    412: "If-Match does not match the current ETag: the resource changed since it was read",
    413: "Request body larger than MAX_CONTENT_LENGTH",
    415: "Request body is not JSON",
    428: "If-Match is required (REQUIRE_IF_MATCH) and was not sent",
    429: "Too many attempts: wait the `Retry-After` seconds (limits: RATELIMIT_PER_ADDRESS, RATELIMIT_PER_ACCOUNT)",
    503: "The database, the mail queue or the identity provider's keys are unavailable; nothing was written",
}
PUBLIC = []  # `security: []`: no credentials needed (stated; protected operations get theirs from `requires`)


def header(description, required=False, **schema):
    """An OpenAPI header object: `required` when the response always carries it."""
    return {"description": description, "required": required, "schema": {"type": "string", **schema}}


ETAG_HEADER = {"ETag": header("Strong validator of this representation (RFC 9110 8.8.3)", required=True)}
LOCATION_HEADER = {"Location": header("URL of the created resource", required=True, format="uri-reference")}
LINK_HEADER = {"Link": header('RFC 8288 `<url>; rel="next"`, only when there is a next page')}
RETRY_AFTER_HEADER = {"Retry-After": header("Seconds to wait before trying again (RFC 9110 10.2.3)", required=True,
                                            pattern="^[0-9]+$")}
PROBLEM_HEADERS = {
    401: {"WWW-Authenticate": header('`Bearer realm="gatehouse"`, with `error="invalid_token"` for a bad or expired '
                                     'access token (RFC 6750 3), or `error="insufficient_user_authentication"` '
                                     'with `acr_values` and `max_age` when a step-up is needed (RFC 9470 3)',
                                     required=True)},
    403: {"WWW-Authenticate": header('`Bearer realm="gatehouse", error="insufficient_scope"` when the role is '
                                     'missing, with `scope="..."` naming the scopes needed when the token lacks '
                                     "them (RFC 6750 3.1)")},
    429: RETRY_AFTER_HEADER,
    503: RETRY_AFTER_HEADER,
}
IF_MATCH = {"name": "If-Match", "in": "header", "required": False, "schema": {"type": "string"},
            "description": "ETag from your last GET; a stale one answers 412 and changes nothing"}
IF_NONE_MATCH = {"name": "If-None-Match", "in": "header", "required": False, "schema": {"type": "string"},
                 "description": "ETag you hold; answers 304 Not Modified when it is still current"}
NOT_MODIFIED = {304: {"description": "Not Modified: the ETag in If-None-Match is current", "headers": ETAG_HEADER}}


def problems(*codes):
    """Document RFC 9457 problem responses for `codes`, with the headers they carry (documentation only: errors
    are raised, not returned)."""
    def decorate(func):
        for code in codes:
            func = marshal_with(problem_schema, code=code, description=PROBLEM_DESCRIPTIONS[code])(func)
            if code in PROBLEM_HEADERS:
                func = doc(responses={code: {"headers": PROBLEM_HEADERS[code]}})(func)
        return func
    return decorate


def no_content_response(description):
    """Document a 204 answer: no content, so no media type (RFC 9110 15.3.5)."""
    return doc(responses={204: {"description": description}})
