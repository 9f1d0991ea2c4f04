"""Schemas of the OAuth 2.0 endpoints for client libraries: the token request of the refresh_token grant (RFC 6749
section 6), the revocation request (RFC 7009 section 2.1), both `application/x-www-form-urlencoded`; the error
response (RFC 6749 section 5.2) and the authorization server metadata (RFC 8414 section 2), both JSON.

Token responses are the JSON endpoints' `TokenResponseSchema` (RFC 6749 section 5.1).
"""
from marshmallow import EXCLUDE, Schema, ValidationError, fields, pre_load, validate

from app.dto.auth import TOKEN_MAX_LENGTH

REFRESH_TOKEN_GRANT = "refresh_token"  # noqa: S105  (an RFC 6749 grant type name, not a secret)
# RFC 6749 section 5.2 and the registered extensions this service answers (RFC 7009 2.2.1 adds none we use;
# `slow_down` is RFC 8628 section 3.5's, registered for the token endpoint: here, a rate limit).
ERROR_CODES = ("invalid_request", "invalid_grant", "unsupported_grant_type", "invalid_scope", "slow_down")
REPEATED = "Parameters sent more than once (RFC 6749 section 3.2): "


class OAuthForm(Schema):
    """A form of OAuth 2.0 parameters, read by RFC 6749 section 3.2: unrecognized parameters are ignored (e.g.
    `client_id`, which public clients send), a parameter sent without a value counts as omitted, and a defined
    parameter sent more than once refuses the whole request (the error names it, under `_schema`)."""

    class Meta:
        unknown = EXCLUDE

    @pre_load
    def _once_each_and_empty_as_omitted(self, data, **_kwargs):
        raw = getattr(data, "data", data)  # webargs passes a MultiDictProxy over the request's form
        getlist = getattr(raw, "getlist", None)
        if getlist is None:  # a plain dict: nothing can repeat
            return {key: value for key, value in data.items() if value != ""}
        repeated = sorted(name for name in self.fields if len(getlist(name)) > 1)
        if repeated:
            raise ValidationError(REPEATED + ", ".join(repeated))
        return {name: raw[name] for name in self.fields if raw.get(name, "") != ""}


class TokenRequest(OAuthForm):
    """POST /oauth/token form: the refresh_token grant (RFC 6749 section 6). Public clients: no client
    authentication; `client_id` is accepted and ignored."""

    grant_type = fields.String(required=True, validate=validate.OneOf([REFRESH_TOKEN_GRANT]), metadata={
        "description": "`refresh_token`: the only grant. Any other value answers `unsupported_grant_type` (sign in "
                       "with POST /api/v1/auth/login; the password grant is not offered, RFC 9700 2.4)",
        "example": REFRESH_TOKEN_GRANT})
    refresh_token = fields.String(required=True, validate=validate.Length(min=1, max=TOKEN_MAX_LENGTH), metadata={
        "description": "The refresh token of the last token response; single use",
        "example": "Xq3rV0b1m7o9QyTq2cJ8kq6H0m3pXzY5r4n2w1v0u9s"})
    scope = fields.String(validate=validate.Length(max=0), metadata={
        "description": "Leave it out (or empty): Gatehouse tokens carry no scopes, so any scope exceeds what was "
                       "granted and answers `invalid_scope` (RFC 6749 section 6)",
        "example": ""})


class RevocationRequest(OAuthForm):
    """POST /oauth/revoke form (RFC 7009 section 2.1). Public clients: no client authentication; `client_id` is
    accepted and ignored."""

    token = fields.String(required=True, metadata={
        "description": "A refresh token or an access token: its whole session ends. An unknown, expired or invalid "
                       "token is not an error (RFC 7009 section 2.2)",
        "example": "Xq3rV0b1m7o9QyTq2cJ8kq6H0m3pXzY5r4n2w1v0u9s"})
    token_type_hint = fields.String(metadata={
        "description": "`refresh_token` or `access_token`: which kind to look for first. Both are searched "
                       "whatever it says, and other values are ignored (RFC 7009 section 2.1)",
        "example": "refresh_token"})


class OAuthError(Schema):
    """An RFC 6749 section 5.2 error response: `error` is a code client libraries act on (authlib raises OAuthError
    with it, oauthlib the matching exception); `error_description` is printable ASCII for developers."""

    error = fields.String(required=True, validate=validate.OneOf(ERROR_CODES), metadata={"example": "invalid_grant"})
    error_description = fields.String(required=True, metadata={  # always sent (controllers/oauth.py error_response)
        "example": "The refresh token is invalid, expired or already used: sign in again."})


class AuthorizationServerMetadata(Schema):
    """RFC 8414 section 2 metadata. URLs are absolute, built from the URL the request reached (scheme and host
    after PROXY_HOPS); there is no authorization endpoint, so no response types and no scopes."""

    issuer = fields.String(required=True, metadata={
        "description": "The URL this service is served at (RFC 8414 section 2); no query or fragment",
        "example": "https://auth.example.com"})
    token_endpoint = fields.String(required=True, metadata={"example": "https://auth.example.com/api/v1/oauth/token"})
    revocation_endpoint = fields.String(required=True, metadata={
        "example": "https://auth.example.com/api/v1/oauth/revoke"})
    grant_types_supported = fields.List(fields.String(), required=True, metadata={"example": [REFRESH_TOKEN_GRANT]})
    response_types_supported = fields.List(fields.String(), required=True, metadata={
        "description": "Required by RFC 8414 section 2; empty: there is no authorization endpoint", "example": []})
    token_endpoint_auth_methods_supported = fields.List(fields.String(), required=True,
                                                        metadata={"example": ["none"]})
    revocation_endpoint_auth_methods_supported = fields.List(fields.String(), required=True,
                                                             metadata={"example": ["none"]})
    service_documentation = fields.String(required=True, metadata={
        "description": "Swagger UI of this API", "example": "https://auth.example.com/swagger-ui/"})


token_request = TokenRequest()
revocation_request = RevocationRequest()
oauth_error = OAuthError()
authorization_server_metadata = AuthorizationServerMetadata()
