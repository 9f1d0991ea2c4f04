"""OAuth 2.0 for client libraries (authlib, requests-oauthlib, ...): the token endpoint of the refresh_token grant
(RFC 6749 section 6), token revocation (RFC 7009) and authorization server metadata (RFC 8414).

Clients sign in with the JSON API (POST /api/v1/auth/login or /auth/social/...) and hand its token response to their
library, which then refreshes and revokes here. There is no authorization endpoint and no password grant (RFC 9700
section 2.4 forbids it). Clients are public (RFC 6749 section 2.1): no client authentication; a `client_id`
parameter is accepted and ignored, and so is an Authorization header.

Requests are `application/x-www-form-urlencoded` forms (RFC 6749 section 3.2: unrecognized parameters ignored, empty
ones omitted, repeated ones refused). Success is the JSON endpoints' token response (RFC 6749 section 5.1) with
`Cache-Control: no-store` and `Pragma: no-cache`. Anything the client got wrong answers an RFC 6749 section 5.2 error,
never a problem document, since client libraries read only `error`: 400 `invalid_request` (a missing, repeated or
malformed parameter, a body that is not such a form or is too large), `unsupported_grant_type`, `invalid_scope`
(tokens carry no scopes, so any scope exceeds what was granted), `invalid_grant` (the refresh token is unknown,
expired, spent or its session ended: the service's rule, shared with POST /auth/refresh), and 429 `slow_down` with
`Retry-After` (seconds) over a rate limit. A database outage or a bug answers the usual 503/500 problem document:
libraries raise on any 5xx, and RFC 7009 section 2.2.1 asks for 503 when revocation could not be done.
"""
import re

from flask import current_app, request, url_for
from flask_apispec import doc, marshal_with, use_kwargs
from flask_limiter.errors import RateLimitExceeded
from injector import inject
from werkzeug.exceptions import HTTPException

from app.controllers.auth import NO_STORE, TOKENS
from app.controllers.docs import PUBLIC, RETRY_AFTER_HEADER, problems
from app.controllers.rate_limits import rate_limited, refresh_token_key
from app.controllers.resource import ApiResource, no_content
from app.controllers.security import client_info
from app.dto.auth import token_response
from app.dto.oauth import (
    REFRESH_TOKEN_GRANT,
    authorization_server_metadata,
    oauth_error,
    revocation_request,
    token_request,
)
from app.errors import InvalidRefreshToken
from app.media_types import FORM, JSON
from app.problems import retry_after_seconds
from app.services.sessions import SessionService

OAUTH = {**TOKENS, "security": PUBLIC}
# RFC 6749 5.2: error and error_description hold printable ASCII but for '"' and '\'.
_NOT_ALLOWED_IN_ERRORS = re.compile(r'[^\x20\x21\x23-\x5b\x5d-\x7e]')
SLOW_DOWN = ("`slow_down`: too many attempts; wait `Retry-After` seconds (RATELIMIT_PER_ADDRESS; on the token "
             "endpoint also RATELIMIT_PER_ACCOUNT, per refresh token)")
NOT_A_FORM = f"Send the parameters as an {FORM} form (RFC 6749 appendix B, RFC 7009 section 2.1)."


def oauth_errors(bad_request):
    """Document the RFC 6749 section 5.2 errors: 400 (`bad_request` says which codes) and 429 `slow_down`, with
    `application/json` content, stated here since the OpenAPI bridge gives error schemas the problem media type."""
    content = {JSON: {"schema": oauth_error}}
    return doc(responses={400: {"description": bad_request, "content": content},
                          429: {"description": SLOW_DOWN, "content": content, "headers": RETRY_AFTER_HEADER}})


def error_response(error, description, status=400, headers=None):
    """An RFC 6749 section 5.2 error: JSON `{"error", "error_description"}`, status 400 unless given, not cached."""
    body = {"error": error, "error_description": _NOT_ALLOWED_IN_ERRORS.sub("", description)}
    response = current_app.json.response(body)
    response.status_code = status
    response.headers.update({**NO_STORE, **(headers or {})})
    return response


def _request_error(error):
    """(error code, description) for a form refused before the service ran (webargs' 400, or Werkzeug's 413 for a
    body over MAX_CONTENT_LENGTH): a grant_type sent once with another value than refresh_token is
    `unsupported_grant_type`; a scope alone is `invalid_scope`; anything else `invalid_request`."""
    data = getattr(error, "data", None)
    fields = data.get("messages", {}).get("form") if isinstance(data, dict) else None
    if not fields:
        return "invalid_request", error.description or error.name
    grant_types = request.form.getlist("grant_type")
    if "grant_type" in fields and len(grant_types) == 1 and grant_types[0]:
        return ("unsupported_grant_type", f"Only grant_type={REFRESH_TOKEN_GRANT} is supported: sign in with "
                                          "POST /api/v1/auth/login, then refresh here.")
    if set(fields) == {"scope"}:
        return "invalid_scope", "Gatehouse tokens carry no scopes: leave scope out."
    described = []
    for name, messages in sorted(fields.items()):
        text = " ".join(messages if isinstance(messages, list) else [str(messages)]).rstrip(".")
        described.append(text if name == "_schema" else f"{name}: {text}")
    return "invalid_request", "; ".join(described) + "."


class OAuthResource(ApiResource):
    """Base of the form endpoints: what the client got wrong (not a form, parsing, rate limits, an invalid grant)
    answers an RFC 6749 section 5.2 error instead of the problem document the app's handlers would make."""

    def dispatch_request(self, **kwargs):
        if request.mimetype != FORM:  # JSON, multipart, none: refused before anything runs
            return error_response("invalid_request", NOT_A_FORM)
        try:
            return super().dispatch_request(**kwargs)
        except InvalidRefreshToken as error:
            return error_response("invalid_grant", error.detail)
        except RateLimitExceeded:
            retry_after = retry_after_seconds()
            return error_response("slow_down", f"Too many attempts: retry in {retry_after} seconds.", 429,
                                  {"Retry-After": str(retry_after)})
        except HTTPException as error:
            if error.code is None or error.code >= 500:
                raise
            return error_response(*_request_error(error))


class TokenResource(OAuthResource):
    """The token endpoint: the refresh_token grant only."""

    @inject
    def __init__(self, sessions: SessionService):
        self.sessions = sessions

    @rate_limited(refresh_token_key)
    @doc(**OAUTH, operationId="oauthToken", summary="Refresh tokens the OAuth 2.0 way (RFC 6749 section 6)",
         description="For OAuth 2.0 client libraries: `grant_type=refresh_token&refresh_token=...` as an "
                     "`application/x-www-form-urlencoded` form. Does what POST /auth/refresh does (the same "
                     "rotation, reuse detection and rate limits) and answers the same token response, but errors "
                     "are RFC 6749 section 5.2 `{\"error\", \"error_description\"}` documents: a spent, unknown or "
                     "expired refresh token is 400 `invalid_grant`. Public clients: no client authentication; "
                     "`client_id` is ignored. No other grant (the password grant is deliberately not offered).")
    @use_kwargs(token_request, location="form")
    @marshal_with(token_response, code=200, description="Token response (RFC 6749 section 5.1); `expires_in` is in "
                                                        "seconds; `Cache-Control: no-store`")
    @oauth_errors("RFC 6749 section 5.2 error: `invalid_grant` (the refresh token is unknown, expired, spent or its "
                  "session ended), `unsupported_grant_type`, `invalid_scope`, or `invalid_request` (a missing, "
                  "repeated or malformed parameter, a body that is not a form or is too large)")
    @problems(503)
    def post(self, refresh_token, **_checked):  # grant_type and scope: checked by the schema
        return self.sessions.refresh(refresh_token, client_info()), 200, NO_STORE


class RevocationResource(OAuthResource):
    """Token revocation (RFC 7009)."""

    @inject
    def __init__(self, sessions: SessionService):
        self.sessions = sessions

    @rate_limited()
    @doc(**OAUTH, operationId="oauthRevoke", summary="Revoke a token (RFC 7009)",
         description="Ends the session of a refresh token or of an access token (access tokens name their session), "
                     "as logout does: every access and refresh token of that session stops working. 200 with no "
                     "content whether or not the token was known, valid or expired (RFC 7009 section 2.2). Public "
                     "clients: no client authentication; `client_id` is ignored.",
         responses={200: {"description": "Revoked, or nothing to revoke: no content"}})
    @use_kwargs(revocation_request, location="form")
    @oauth_errors("RFC 6749 section 5.2 error `invalid_request`: `token` missing or repeated, or a body that is "
                  "not a form or is too large")
    @problems(503)
    def post(self, token, token_type_hint=None):
        self.sessions.revoke(token, token_type_hint, client_info())
        return no_content(200)  # RFC 7009 2.2: 200, and the client ignores the body


class AuthorizationServerMetadataResource(ApiResource):
    """RFC 8414 metadata: where the token and revocation endpoints are and what they support."""

    @doc(**OAUTH, operationId="oauthAuthorizationServerMetadata",
         summary="OAuth 2.0 authorization server metadata (RFC 8414)",
         description="The issuer is the URL the request reached (scheme and host as the client used them, after "
                     "PROXY_HOPS, plus the path the app is mounted at), so the document's URLs are the ones the "
                     "client can reach. Only the refresh_token grant, public clients (`none`), no scopes, no "
                     "authorization endpoint.")
    @marshal_with(authorization_server_metadata, code=200, description="RFC 8414 section 2 metadata")
    def get(self):
        root = request.url_root  # ends with "/"
        return {
            "issuer": root.rstrip("/"),
            "token_endpoint": url_for("api.oauth_token", _external=True),
            "revocation_endpoint": url_for("api.oauth_revoke", _external=True),
            "grant_types_supported": [REFRESH_TOKEN_GRANT],
            "response_types_supported": [],
            "token_endpoint_auth_methods_supported": ["none"],
            "revocation_endpoint_auth_methods_supported": ["none"],
            "service_documentation": root + current_app.config["APISPEC_SWAGGER_UI_URL"].lstrip("/"),
        }


RESOURCES = [  # under /api/v1
    ("/oauth/token", TokenResource, "oauth_token"),
    ("/oauth/revoke", RevocationResource, "oauth_revoke"),
]
UNVERSIONED_RESOURCES = [  # at the root (RFC 8615)
    ("/.well-known/oauth-authorization-server", AuthorizationServerMetadataResource, "oauth_metadata"),
]
