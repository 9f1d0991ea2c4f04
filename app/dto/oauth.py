"""Schemas of the OAuth 2.0 endpoints for client libraries: the token request of the refresh_token grant (RFC 6749
section 6) and of the client credentials grant (section 4.4), the revocation request (RFC 7009 section 2.1), all
`application/x-www-form-urlencoded`; the token response (RFC 6749 section 5.1), the error response (section 5.2) and
the authorization server metadata (RFC 8414 section 2), all JSON.
"""
from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_dump, pre_load, validate, validates_schema

from app.dto import fields as f
from app.dto.auth import TOKEN_MAX_LENGTH
from app.entities.scope import SCOPE_MAX_LENGTH, SERVICE_ACCOUNT_SCOPES, format_scopes

REFRESH_TOKEN_GRANT = "refresh_token"  # noqa: S105  (an RFC 6749 grant type name, not a secret)
CLIENT_CREDENTIALS_GRANT = "client_credentials"  # noqa: S105  (an RFC 6749 grant type name)
GRANT_TYPES = (REFRESH_TOKEN_GRANT, CLIENT_CREDENTIALS_GRANT)
# RFC 6749 section 5.2 and the registered extensions this service answers (RFC 7009 2.2.1 adds none we use;
# `slow_down` is RFC 8628 section 3.5's, registered for the token endpoint: here, a rate limit).
ERROR_CODES = ("invalid_request", "invalid_client", "invalid_grant", "unsupported_grant_type", "invalid_scope",
               "slow_down")
REPEATED = "Parameters sent more than once (RFC 6749 section 3.2): "
CLIENT_CREDENTIAL_MAX_LENGTH = 255  # characters of a client id or secret; ours are 19 and 56
# RFC 6749 appendix A.1 and A.2: a client id and a client secret are VSCHARs (printable ASCII and space).
VSCHARS = f.Pattern(r"^[\x20-\x7e]*$", error="Must be printable ASCII (RFC 6749 appendix A).")
# RFC 6749 section 3.3: scope-tokens of NQCHARs (printable ASCII but for space, '"' and '\\') separated by spaces.
SCOPE_SYNTAX = f.Pattern(r"^[\x21\x23-\x5b\x5d-\x7e]+(?: [\x21\x23-\x5b\x5d-\x7e]+)*$",
                         error="Must be scope names separated by single spaces (RFC 6749 section 3.3).")
GRANTABLE_SCOPE = format_scopes(SERVICE_ACCOUNT_SCOPES)


class OAuthForm(Schema):
    """A form of OAuth 2.0 parameters, read by RFC 6749 section 3.2: unrecognized parameters are ignored (e.g.
    `client_id` on revocation, which public clients send), a parameter sent without a value counts as omitted, and
    a defined parameter sent more than once refuses the whole request (the error names it, under `_schema`)."""

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
    """POST /oauth/token form: the refresh_token grant (RFC 6749 section 6) or the client credentials grant (section
    4.4). The refresh_token grant is for public clients: `client_id` and `client_secret` are ignored there (once their
    form is checked: 1 to 255 printable ASCII characters, RFC 6749 appendix A). The
    client credentials grant needs client authentication (section 2.3.1), in this form (`client_id` and
    `client_secret`) or in an HTTP Basic Authorization header: checked by the controller."""

    grant_type = fields.String(required=True, validate=validate.OneOf(GRANT_TYPES), metadata={
        "description": "`refresh_token` (a sign-in's refresh token, RFC 6749 section 6) or `client_credentials` "
                       "(a service account, section 4.4). Any other value answers `unsupported_grant_type` (the "
                       "password grant is not offered, RFC 9700 2.4)",
        "example": REFRESH_TOKEN_GRANT})
    refresh_token = fields.String(validate=validate.Length(min=1, max=TOKEN_MAX_LENGTH), metadata={
        "description": "`refresh_token` grant (required there): the refresh token of the last token response; single "
                       "use",
        "example": "Xq3rV0b1m7o9QyTq2cJ8kq6H0m3pXzY5r4n2w1v0u9s"})
    scope = fields.String(validate=[validate.Length(max=SCOPE_MAX_LENGTH), SCOPE_SYNTAX], metadata={
        "description": "`client_credentials` grant: the scopes wanted, space-separated (RFC 6749 section 3.3), all "
                       "of them the service account's (else `invalid_scope`); left out, every scope it holds. "
                       f"Service accounts hold some of: {GRANTABLE_SCOPE}. `refresh_token` grant: leave it out, "
                       "since a refresh keeps what the sign-in had; any scope answers `invalid_scope`",
        "example": "users:read"})
    client_id = fields.String(validate=[validate.Length(min=1, max=CLIENT_CREDENTIAL_MAX_LENGTH), VSCHARS],
                              metadata={"description": "`client_credentials` grant: the service account's client "
                                                       "id, with `client_secret` (client_secret_post); or send both "
                                                       "in an HTTP Basic Authorization header instead "
                                                       "(client_secret_basic, RFC 6749 section 2.3.1), never both "
                                                       "ways. Ignored by the `refresh_token` grant",
                                        "example": "sa_3f9c2a7d41b08e65"})
    client_secret = fields.String(validate=[validate.Length(min=1, max=CLIENT_CREDENTIAL_MAX_LENGTH), VSCHARS],
                                  metadata={"description": "`client_credentials` grant: a client secret of the "
                                                           "service account (client_secret_post); with HTTP Basic "
                                                           "leave it out. Ignored by the `refresh_token` grant",
                                            "example": "gatehouse_cs_Xq3rV0b1m7o9QyTq2cJ8kq6H0m3pXzY5r4n2w1v0u9s"})

    @validates_schema
    def _per_grant(self, data, **_kwargs):
        errors = {}
        if data.get("grant_type") == REFRESH_TOKEN_GRANT:
            if "refresh_token" not in data:
                errors["refresh_token"] = ["Missing data for required field."]
            if "scope" in data:
                errors["scope"] = ["A refresh keeps the scopes of the sign-in: leave scope out (RFC 6749 section 6)."]
        if errors:
            raise ValidationError(errors)


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


class OAuthTokenResponse(Schema):
    """An RFC 6749 section 5.1 token response. The `refresh_token` grant answers what POST /auth/refresh answers
    (with `refresh_token`, no `scope`); the `client_credentials` grant answers `scope` and no `refresh_token`
    (section 4.4.3). Members without a value are left out."""

    access_token = fields.String(required=True, metadata={"example": "eyJzYSI6MSwiY2lkIjoic2FfM2Y5YzJh..."})
    token_type = fields.String(required=True, metadata={"example": "Bearer"})
    expires_in = fields.Integer(required=True, metadata={"description": "Lifetime of the access token in seconds "
                                                                        "(ACCESS_TOKEN_TTL)", "example": 900})
    refresh_token = fields.String(metadata={
        "description": "`refresh_token` grant only: the next refresh token, single use (REFRESH_TOKEN_TTL seconds)",
        "example": "Xq3rV0b1m7o9QyTq2cJ8kq6H0m3pXzY5r4n2w1v0u9s"})
    scope = fields.String(metadata={
        "description": "`client_credentials` grant only: the scopes granted, space-separated (RFC 6749 section 3.3)",
        "example": "users:read"})

    @post_dump
    def _without_empty_members(self, data, **_kwargs):
        return {name: value for name, value in data.items() if value is not None}


class OAuthError(Schema):
    """An RFC 6749 section 5.2 error response: `error` is a code client libraries act on (authlib raises OAuthError
    with it, oauthlib the matching exception); `error_description` is printable ASCII for developers."""

    error = fields.String(required=True, validate=validate.OneOf(ERROR_CODES), metadata={"example": "invalid_grant"})
    error_description = fields.String(required=True, metadata={  # always sent (controllers/oauth.py error_response)
        "example": "The refresh token is invalid, expired or already used: sign in again."})


class AuthorizationServerMetadata(Schema):
    """RFC 8414 section 2 metadata. URLs are absolute, built from the URL the request reached (scheme and host
    after PROXY_HOPS); there is no authorization endpoint, so no response types."""

    issuer = fields.String(required=True, metadata={
        "description": "The URL this service is served at (RFC 8414 section 2); no query or fragment",
        "example": "https://auth.example.com"})
    token_endpoint = fields.String(required=True, metadata={"example": "https://auth.example.com/api/v1/oauth/token"})
    revocation_endpoint = fields.String(required=True, metadata={
        "example": "https://auth.example.com/api/v1/oauth/revoke"})
    grant_types_supported = fields.List(fields.String(), required=True, metadata={"example": list(GRANT_TYPES)})
    response_types_supported = fields.List(fields.String(), required=True, metadata={
        "description": "Required by RFC 8414 section 2; empty: there is no authorization endpoint", "example": []})
    token_endpoint_auth_methods_supported = fields.List(fields.String(), required=True, metadata={
        "description": "`none` (public clients, the refresh_token grant), `client_secret_basic` and "
                       "`client_secret_post` (service accounts, the client_credentials grant)",
        "example": ["none", "client_secret_basic", "client_secret_post"]})
    revocation_endpoint_auth_methods_supported = fields.List(fields.String(), required=True,
                                                             metadata={"example": ["none"]})
    scopes_supported = fields.List(fields.String(), required=True, metadata={
        "description": "The scopes the client_credentials grant can grant (RFC 6749 section 3.3)",
        "example": sorted(GRANTABLE_SCOPE.split())})
    service_documentation = fields.String(required=True, metadata={
        "description": "Swagger UI of this API", "example": "https://auth.example.com/swagger-ui/"})


token_request = TokenRequest()
oauth_token_response = OAuthTokenResponse()
revocation_request = RevocationRequest()
oauth_error = OAuthError()
authorization_server_metadata = AuthorizationServerMetadata()
