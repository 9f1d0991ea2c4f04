"""Schemas of the authentication endpoints."""
from marshmallow import Schema, fields, validate

from app.dto import fields as f
from app.entities.user import EMAIL_MAX_LENGTH


class RegisterRequest(Schema):
    """POST /auth/register body."""

    email = f.email(required=True)
    name = f.name(required=True)
    password = f.password(required=True)


class LoginRequest(Schema):
    """POST /auth/login body. The password's length is not checked here: any wrong password is a plain 401."""

    email = fields.String(required=True, validate=validate.Length(max=EMAIL_MAX_LENGTH),
                          metadata={"example": "ada@example.com"})
    password = fields.String(required=True, load_only=True, validate=validate.Length(max=1024),
                             metadata={"example": "correct horse battery staple"})


class TokenResponseSchema(Schema):
    """RFC 6749 section 5.1 token response; `expires_in` is in seconds."""

    access_token = fields.String(required=True)
    token_type = fields.String(required=True, metadata={"example": "Bearer"})
    expires_in = fields.Integer(required=True, metadata={"example": 900})


register_request = RegisterRequest()
login_request = LoginRequest()
token_response = TokenResponseSchema()
