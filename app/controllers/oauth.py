"""OAuth 2.0 for client libraries (authlib, requests-oauthlib, ...): the token endpoint of the refresh_token grant
(RFC 6749 section 6) and of the client credentials grant (section 4.4), token revocation (RFC 7009) and
authorization server metadata (RFC 8414).

Two kinds of client. People's apps sign in with the JSON API (POST /api/v1/auth/login or /auth/social/...) and hand
its token response to their library, which then refreshes and revokes here: they are public clients (RFC 6749
section 2.1), so the refresh_token grant and revocation take no client authentication (a `client_id` parameter or an
Authorization header is accepted and ignored). Service accounts (app/services/service_accounts.py) are confidential
clients: the client_credentials grant authenticates them (section 2.3.1) with HTTP Basic (`client_secret_basic`: the
client id and secret each form-urlencoded, joined by ":", base64) or with `client_id` and `client_secret` in the
form (`client_secret_post`), never both at once, and answers a token without a refresh token (section 4.4.3)
carrying the scopes granted (`scope`: by default every scope of the account; a narrower set when asked). There is no
authorization endpoint and no password grant (RFC 9700 section 2.4 forbids it).

Requests are `application/x-www-form-urlencoded` forms (RFC 6749 section 3.2: unrecognized parameters ignored, empty
ones omitted, repeated ones refused). Success is an RFC 6749 section 5.1 token response with `Cache-Control:
no-store` and `Pragma: no-cache`. Anything the client got wrong answers an RFC 6749 section 5.2 error, never a problem
document, since client libraries read only `error`: 400 `invalid_request` (a missing, repeated or malformed
parameter, a body that is not such a form or is too large, client credentials sent two ways), `unsupported_grant_type`,
`invalid_scope` (a refresh keeps its sign-in's scopes, so any scope there; for client credentials a scope the account
does not hold, or an unknown one), `invalid_grant` (the refresh token is unknown, expired, spent or its session
ended: the service's rule, shared with POST /auth/refresh), 401 `invalid_client` with `WWW-Authenticate: Basic
realm="gatehouse"` (no client authentication, an unknown client or a wrong secret: audited), and 429 `slow_down`
with `Retry-After` (seconds) over a rate limit. A database outage or a bug answers the usual 503/500 problem
document: libraries raise on any 5xx, and RFC 7009 section 2.2.1 asks for 503 when revocation could not be done.
"""
import base64
import binascii
import re
from urllib.parse import unquote_plus

from flask import current_app, request, url_for
from flask_apispec import doc, marshal_with, use_kwargs
from flask_limiter.errors import RateLimitExceeded
from injector import inject
from werkzeug.exceptions import HTTPException

from app.controllers.auth import NO_STORE, TOKENS
from app.controllers.docs import PUBLIC, RETRY_AFTER_HEADER, header, problems
from app.controllers.rate_limits import rate_limited, refresh_token_key
from app.controllers.resource import ApiResource, no_content
from app.controllers.security import client_info
from app.dto.oauth import (
    CLIENT_CREDENTIAL_MAX_LENGTH,
    CLIENT_CREDENTIALS_GRANT,
    GRANT_TYPES,
    GRANTABLE_SCOPE,
    REFRESH_TOKEN_GRANT,
    VSCHARS,
    authorization_server_metadata,
    oauth_error,
    oauth_token_response,
    revocation_request,
    token_request,
)
from app.errors import InvalidRefreshToken
from app.media_types import FORM, JSON
from app.problems import retry_after_seconds
from app.services.service_accounts import InvalidClient, InvalidScopeRequested, ServiceAccountService
from app.services.sessions import SessionService

OAUTH = {**TOKENS, "security": PUBLIC}
# RFC 6749 5.2: error and error_description hold printable ASCII but for '"' and '\'.
_NOT_ALLOWED_IN_ERRORS = re.compile(r'[^\x20\x21\x23-\x5b\x5d-\x7e]')
SLOW_DOWN = ("`slow_down`: too many attempts; wait `Retry-After` seconds (RATELIMIT_PER_ADDRESS; on the token "
             "endpoint also RATELIMIT_PER_ACCOUNT, per refresh token)")
NOT_A_FORM = f"Send the parameters as an {FORM} form (RFC 6749 appendix B, RFC 7009 section 2.1)."
BASIC_CHALLENGE = {"WWW-Authenticate": 'Basic realm="gatehouse"'}
INVALID_CLIENT = ("RFC 6749 section 5.2 error `invalid_client`: the client_credentials grant without client "
                  "authentication, with an unknown client id or a wrong client secret (audited as "
                  "`client_credentials.failed`). `WWW-Authenticate: Basic realm=\"gatehouse\"`, whichever way the "
                  "client authenticated (RFC 6749 section 5.2, RFC 9110 section 11.6.1)")


class OAuthRequestError(Exception):
    """An RFC 6749 section 5.2 error found by the controller itself (client authentication): `error`, its
    `description`, the HTTP `status` and extra `headers`."""

    def __init__(self, error, description, status=400, headers=None):
        super().__init__(description)
        self.error, self.description, self.status, self.headers = error, description, status, headers


def oauth_errors(bad_request, unauthorized=None):
    """Document the RFC 6749 section 5.2 errors: 400 (`bad_request` says which codes), 401 `invalid_client` when
    `unauthorized` describes it, and 429 `slow_down`, with `application/json` content, stated here since the OpenAPI
    bridge gives error schemas the problem media type."""
    content = {JSON: {"schema": oauth_error}}
    responses = {400: {"description": bad_request, "content": content},
                 429: {"description": SLOW_DOWN, "content": content, "headers": RETRY_AFTER_HEADER}}
    if unauthorized:
        responses[401] = {"description": unauthorized, "content": content, "headers": {
            "WWW-Authenticate": header('`Basic realm="gatehouse"`', required=True)}}
    return doc(responses=responses)


def error_response(error, description, status=400, headers=None):
    """An RFC 6749 section 5.2 error: JSON `{"error", "error_description"}`, status 400 unless given, not cached."""
    body = {"error": error, "error_description": _NOT_ALLOWED_IN_ERRORS.sub("", description)}
    response = current_app.json.response(body)
    response.status_code = status
    response.headers.update({**NO_STORE, **(headers or {})})
    return response


def _request_error(error):
    """(error code, description) for a form refused before the service ran (webargs' 400, or Werkzeug's 413 for a
    body over MAX_CONTENT_LENGTH): a grant_type sent once with a value other than refresh_token and
    client_credentials is `unsupported_grant_type`; a scope alone is `invalid_scope`; anything else
    `invalid_request`."""
    data = getattr(error, "data", None)
    fields = data.get("messages", {}).get("form") if isinstance(data, dict) else None
    if not fields:
        return "invalid_request", error.description or error.name
    grant_types = request.form.getlist("grant_type")
    if "grant_type" in fields and len(grant_types) == 1 and grant_types[0]:
        return ("unsupported_grant_type", f"Only grant_type={REFRESH_TOKEN_GRANT} (sign in with POST "
                                          f"/api/v1/auth/login, then refresh here) and {CLIENT_CREDENTIALS_GRANT} "
                                          "(service accounts) are supported.")
    if set(fields) == {"scope"}:
        return "invalid_scope", " ".join(fields["scope"])
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
        except InvalidClient as error:
            return error_response("invalid_client", error.detail, 401, BASIC_CHALLENGE)
        except InvalidScopeRequested as error:
            return error_response("invalid_scope", error.detail)
        except OAuthRequestError as error:
            return error_response(error.error, error.description, error.status, error.headers)
        except RateLimitExceeded:
            retry_after = retry_after_seconds()
            return error_response("slow_down", f"Too many attempts: retry in {retry_after} seconds.", 429,
                                  {"Retry-After": str(retry_after)})
        except HTTPException as error:
            if error.code is None or error.code >= 500:
                raise
            return error_response(*_request_error(error))


def _basic_credentials():
    """(client id, client secret) of an HTTP Basic Authorization header (RFC 7617), each form-urlencoded before
    base64 as RFC 6749 section 2.3.1 asks (decoded with unquote_plus), or None without a Basic header. Raises
    OAuthRequestError `invalid_request` for a Basic header that does not decode to two printable ASCII values."""
    scheme, _, value = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("ascii")
    except (binascii.Error, ValueError):
        raise OAuthRequestError("invalid_request", "The Basic Authorization header is not base64 of ASCII "
                                                   "text.") from None
    client_id, colon, client_secret = decoded.partition(":")
    client_id, client_secret = unquote_plus(client_id), unquote_plus(client_secret)
    for part in (client_id, client_secret):
        if not colon or not 0 < len(part) <= CLIENT_CREDENTIAL_MAX_LENGTH or VSCHARS.regex.fullmatch(part) is None:
            raise OAuthRequestError("invalid_request", "The Basic Authorization header must hold client_id:"
                                                       "client_secret, each 1 to 255 printable ASCII characters, "
                                                       "form-urlencoded (RFC 6749 section 2.3.1).")
    return client_id, client_secret


def client_credentials(client_id=None, client_secret=None):
    """(client id, client secret) of a client_credentials request, from the Basic header or the form's `client_id`
    and `client_secret` (RFC 6749 section 2.3.1). Raises OAuthRequestError: `invalid_request` when both ways are
    used (a form `client_id` equal to the header's is allowed: some libraries add it), `invalid_client` (401) when
    there is no client authentication."""
    basic = _basic_credentials()
    if basic is not None:
        if client_secret is not None or client_id not in (None, basic[0]):
            raise OAuthRequestError("invalid_request", "Authenticate the client one way only: an HTTP Basic "
                                                       "Authorization header, or client_id and client_secret in the "
                                                       "form (RFC 6749 section 2.3.1).")
        return basic
    if client_id is None or client_secret is None:
        raise OAuthRequestError("invalid_client", "The client_credentials grant needs client authentication: HTTP "
                                                  "Basic with the client id and secret, or client_id and "
                                                  "client_secret in the form.", 401, BASIC_CHALLENGE)
    return client_id, client_secret


class TokenResource(OAuthResource):
    """The token endpoint: the refresh_token and client_credentials grants."""

    @inject
    def __init__(self, sessions: SessionService, service_accounts: ServiceAccountService):
        self.sessions = sessions
        self.service_accounts = service_accounts

    @rate_limited(refresh_token_key)
    @doc(**OAUTH, operationId="oauthToken", summary="Get tokens the OAuth 2.0 way: refresh (RFC 6749 section 6) or "
                                                    "client credentials (section 4.4)",
         description="For OAuth 2.0 client libraries, an `application/x-www-form-urlencoded` form; errors are RFC "
                     "6749 section 5.2 `{\"error\", \"error_description\"}` documents, not problems. Two grants:\n\n"
                     "- `grant_type=refresh_token&refresh_token=...` (people's apps, public clients: no client "
                     "authentication, `client_id` and an Authorization header are ignored). Does what POST "
                     "/auth/refresh does (the same rotation, reuse detection and rate limits) and answers the same "
                     "token response; a spent, unknown or expired refresh token is 400 `invalid_grant`; a `scope` is "
                     "400 `invalid_scope` (a refresh keeps the sign-in's).\n"
                     "- `grant_type=client_credentials&scope=...` (service accounts, confidential clients: RFC 6749 "
                     "section 4.4). The client authenticates with HTTP Basic (`client_secret_basic`: client id and "
                     "secret form-urlencoded, joined by `:`, base64) or with `client_id` and `client_secret` in the "
                     "form (`client_secret_post`), not both (400 `invalid_request`). Either of the account's two "
                     "secrets works (rotation). No authentication, an unknown client or a wrong secret: 401 "
                     "`invalid_client` with `WWW-Authenticate: Basic`, audited. `scope` (space-separated) narrows "
                     "the token to scopes the account holds (else 400 `invalid_scope`); without it the token gets "
                     f"every scope of the account (some of {GRANTABLE_SCOPE}). The answer has `scope` and no "
                     "`refresh_token` (section 4.4.3): ask again when the access token expires (`expires_in` "
                     "seconds, ACCESS_TOKEN_TTL). The token stops working at once when the account is deleted.\n\n"
                     "No other grant (the password grant is deliberately not offered). Rate limited per address, and "
                     "the refresh_token grant per refresh token.")
    @use_kwargs(token_request, location="form")
    @marshal_with(oauth_token_response, code=200, description="Token response (RFC 6749 section 5.1); `expires_in` "
                                                              "is in seconds; `Cache-Control: no-store`")
    @oauth_errors("RFC 6749 section 5.2 error: `invalid_grant` (the refresh token is unknown, expired, spent or its "
                  "session ended), `unsupported_grant_type`, `invalid_scope` (a scope on a refresh; a scope the "
                  "service account does not hold, or an unknown or malformed one), or `invalid_request` (a "
                  "missing, repeated or malformed parameter, a body that is not a form or is too large, client "
                  "credentials sent both in the header and in the form, a Basic header that does not decode)",
                  INVALID_CLIENT)
    @problems(503)
    def post(self, grant_type, refresh_token=None, scope=None, client_id=None, client_secret=None):
        if grant_type == REFRESH_TOKEN_GRANT:  # public clients: client_id and any Authorization header ignored
            return self.sessions.refresh(refresh_token, client_info()), 200, NO_STORE
        client_id, client_secret = client_credentials(client_id, client_secret)
        return self.service_accounts.issue_token(client_id, client_secret, scope, client_info()), 200, NO_STORE


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
                     "client can reach. The refresh_token grant for public clients (`none`), the client_credentials "
                     "grant for service accounts (`client_secret_basic`, `client_secret_post`) with the scopes it "
                     "can grant, no authorization endpoint.")
    @marshal_with(authorization_server_metadata, code=200, description="RFC 8414 section 2 metadata")
    def get(self):
        root = request.url_root  # ends with "/"
        return {
            "issuer": root.rstrip("/"),
            "token_endpoint": url_for("api.oauth_token", _external=True),
            "revocation_endpoint": url_for("api.oauth_revoke", _external=True),
            "grant_types_supported": list(GRANT_TYPES),
            "response_types_supported": [],
            "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
            "revocation_endpoint_auth_methods_supported": ["none"],
            "scopes_supported": GRANTABLE_SCOPE.split(),
            "service_documentation": root + current_app.config["APISPEC_SWAGGER_UI_URL"].lstrip("/"),
        }


RESOURCES = [  # under /api/v1
    ("/oauth/token", TokenResource, "oauth_token"),
    ("/oauth/revoke", RevocationResource, "oauth_revoke"),
]
UNVERSIONED_RESOURCES = [  # at the root (RFC 8615)
    ("/.well-known/oauth-authorization-server", AuthorizationServerMetadataResource, "oauth_metadata"),
]
