"""Schemas of personal access tokens: the creation request, a token as listed (never its secret or digest), and
the creation answer that shows the token once."""
from marshmallow import Schema, fields, validate

from app.dto import fields as f
from app.entities.personal_access_token import TOKEN_NAME_MAX_LENGTH
from app.entities.scope import GRANTABLE

GRANTABLE_NAMES = sorted(str(scope) for scope in GRANTABLE)
TOKEN_EXAMPLE = "gatehouse_pat_4mT1q0Zb8cW2rXy9LkP3vN6sHd5Jf7Ga0QeR1u"  # noqa: S105  (a documentation example)


class PersonalTokenCreate(Schema):
    """POST /users/me/tokens body."""

    name = f.one_line_text(TOKEN_NAME_MAX_LENGTH, "CI deploy job", required=True)
    scopes = fields.List(fields.String(validate=validate.OneOf(GRANTABLE_NAMES)), required=True,
                         validate=validate.Length(min=1, max=len(GRANTABLE_NAMES)), metadata={
                             "example": ["users:read"],
                             "description": "What the token may be used for (RFC 6749 3.3 scope names; see the "
                                            "`oauth2` security scheme). `users:write` and `admin` need the admin "
                                            "role. `credentials` cannot be given to a token."})
    expires_at = f.UtcDateTime(required=True, metadata={
        "example": "2027-01-01T00:00:00Z",
        "description": "When the token stops working (ISO 8601; UTC without an offset): in the future, at most "
                       "PAT_MAX_LIFETIME seconds away (default 1 year)."})


class PersonalTokenPublic(Schema):
    """A personal access token as its owner and admins see it. Output only: every field is always sent."""

    id = fields.Integer(required=True, metadata={"example": 7})
    name = fields.String(required=True, metadata={"example": "CI deploy job"})
    scopes = fields.Function(lambda token: token.scope.split(), required=True,
                             metadata={"type": "array", "items": {"type": "string"}, "example": ["users:read"]})
    hint = fields.String(required=True, metadata={
        "example": "gatehouse_pat_4mT1", "description": "The token's first characters, to tell tokens apart"})
    created_at = f.UtcIsoDateTime(required=True, metadata={"example": "2026-11-24T12:00:00+00:00"})
    expires_at = f.UtcIsoDateTime(required=True, metadata={"example": "2027-01-01T00:00:00+00:00"})
    last_used_at = f.UtcIsoDateTime(required=True, allow_none=True, metadata={
        "example": "2026-11-25T08:30:00+00:00",
        "description": "When it was last used (recorded at most once a minute); null until then"})
    last_used_from = fields.String(required=True, allow_none=True, metadata={
        "example": "203.0.113.7", "description": "The client address of that use; null until then"})


class PersonalTokenCreated(PersonalTokenPublic):
    """The answer to creating a token: the token itself, shown this once."""

    token = fields.String(required=True, metadata={
        "example": TOKEN_EXAMPLE,
        "description": "The token: send it as `Authorization: Bearer <token>`. Shown only now; only its digest "
                       "is stored. The `gatehouse_pat_` prefix lets secret scanners find leaked ones."})


class PersonalTokenList(Schema):
    """Unrevoked tokens, newest first (at most PAT_MAX_PER_USER live ones: no pagination)."""

    items = fields.Nested(PersonalTokenPublic, many=True, required=True)


personal_token_create = PersonalTokenCreate()
personal_token_public = PersonalTokenPublic()
personal_token_created = PersonalTokenCreated()
personal_token_list = PersonalTokenList()
