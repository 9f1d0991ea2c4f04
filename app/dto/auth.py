"""Schemas of the authentication endpoints: registration, login, token responses, refresh, social login, mailed
tokens (verification, password reset)."""
from marshmallow import Schema, fields, validate

from app.dto import fields as f

TOKEN_MAX_LENGTH = 512  # characters: our tokens are 43; the bound only stops abuse
ID_TOKEN_MAX_LENGTH = 16 * 1024  # characters: ID tokens of real providers are 1-2 KB


class RegisterRequest(Schema):
    """POST /auth/register body."""

    email = f.email(required=True)
    name = f.name(required=True)
    password = f.password(required=True)


class LoginRequest(Schema):
    """POST /auth/login body. The password's length is not checked here: any wrong password is a plain 401. Control
    characters in either field are a 400 (app/dto/fields.py)."""

    email = f.email_to_look_up(required=True)
    password = f.password_to_check(required=True)


class TokenResponseSchema(Schema):
    """RFC 6749 section 5.1 token response; `expires_in` is the access token's lifetime in seconds."""

    access_token = fields.String(required=True)
    token_type = fields.String(required=True, metadata={"example": "Bearer"})
    expires_in = fields.Integer(required=True, metadata={"example": 900})
    refresh_token = fields.String(required=True, metadata={
        "description": "Single use: POST it to /auth/refresh for a new pair. Lives REFRESH_TOKEN_TTL seconds."})


def _token(description):
    return fields.String(required=True, validate=validate.Length(min=1, max=TOKEN_MAX_LENGTH),
                         metadata={"description": description,
                                   "example": "Xq3rV0b1m7o9QyTq2cJ8kq6H0m3pXzY5r4n2w1v0u9s"})


class RefreshRequest(Schema):
    """POST /auth/refresh body (RFC 6749 6, as JSON)."""

    refresh_token = _token("The refresh token of the last token response")


class SocialLoginRequest(Schema):
    """POST /auth/social/{provider} body."""

    id_token = fields.String(required=True, validate=validate.Length(min=1, max=ID_TOKEN_MAX_LENGTH),
                             metadata={"description": "An OpenID Connect ID token (a JWT) the provider issued to "
                                                      "our client id", "example": "eyJhbGciOiJSUzI1NiIs..."})


class TokenRequest(Schema):
    """POST /auth/verify-email body."""

    token = _token("The token from the email")


class PasswordResetRequest(Schema):
    """POST /auth/password-reset body."""

    email = f.email_to_look_up(min_length=1, required=True)


class PasswordResetConfirm(Schema):
    """POST /auth/password-reset/confirm body."""

    token = _token("The token from the password reset email")
    new_password = f.password(required=True)


class Accepted(Schema):
    """A 202 answer: the request was taken; `detail` says what happens next (RFC 9110 15.3.3)."""

    detail = fields.String(required=True, metadata={"example": "A message is on its way."})


register_request = RegisterRequest()
accepted = Accepted()
login_request = LoginRequest()
token_response = TokenResponseSchema()
refresh_request = RefreshRequest()
social_login_request = SocialLoginRequest()
token_request = TokenRequest()
password_reset_request = PasswordResetRequest()
password_reset_confirm = PasswordResetConfirm()
