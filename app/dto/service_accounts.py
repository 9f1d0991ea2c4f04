"""Schemas of /api/v1/service-accounts: registering a service account (a machine client of the client credentials
grant, RFC 6749 section 4.4), its representation, and its client secrets. A secret is shown once, in the answer that
created it; representations name secrets by id and hint, never by value or digest."""
from marshmallow import Schema, fields, validate

from app.dto import fields as f
from app.entities.scope import SERVICE_ACCOUNT_SCOPES
from app.entities.service_account import MAX_LIVE_SECRETS, SERVICE_ACCOUNT_NAME_MAX_LENGTH

SCOPE_NAMES = sorted(str(scope) for scope in SERVICE_ACCOUNT_SCOPES)
CLIENT_ID_EXAMPLE = "sa_3f9c2a7d41b08e65"
CLIENT_SECRET_EXAMPLE = "gatehouse_cs_Xq3rV0b1m7o9QyTq2cJ8kq6H0m3pXzY5r4n2w1v0u9s"  # noqa: S105  (an example)
TIME_EXAMPLE = "2026-01-01T12:00:00+00:00"


def _scopes(obj):
    """The scopes of an account (a dict or an entity with `scope`, RFC 6749 section 3.3 form), sorted."""
    scope = obj["scope"] if isinstance(obj, dict) else obj.scope
    return sorted(scope.split())


class ServiceAccountCreate(Schema):
    """POST /service-accounts body."""

    name = f.one_line_text(SERVICE_ACCOUNT_NAME_MAX_LENGTH, "Nightly user export", required=True)
    scopes = fields.List(fields.String(validate=validate.OneOf(SCOPE_NAMES)), required=True,
                         validate=[validate.Length(min=1, max=len(SCOPE_NAMES))], metadata={
                             "description": "What its tokens may be used for: one or more of "
                                            f"{', '.join(SCOPE_NAMES)} (`users:write` and `admin` act with the admin "
                                            "role). `profile:*` and `credentials` are not for machines: they speak "
                                            "of the caller's own account and of a signed-in person.",
                             "example": ["users:read"]})


class ClientSecretPublic(Schema):
    """A client secret of a service account, by id and hint: never its value (shown once) or digest. Output only:
    every field is always sent."""

    id = fields.Integer(required=True, metadata={"example": 1})
    hint = fields.String(required=True, metadata={
        "description": "The secret's first characters (its prefix and 3 more), to tell two secrets apart",
        "example": CLIENT_SECRET_EXAMPLE[:16]})
    created_at = f.UtcIsoDateTime(required=True, metadata={"example": TIME_EXAMPLE})
    last_used_at = f.UtcIsoDateTime(required=True, allow_none=True, metadata={
        "description": "When it last obtained a token; null until then", "example": "2026-01-02T08:30:00+00:00"})


class ServiceAccountPublic(Schema):
    """A service account. Output only: every field is always sent."""

    id = fields.Integer(required=True, metadata={"example": 1})
    client_id = fields.String(required=True, metadata={
        "description": "The client id of the client credentials grant (public, not a secret)",
        "example": CLIENT_ID_EXAMPLE})
    name = fields.String(required=True, metadata={"example": "Nightly user export"})
    scopes = fields.Function(_scopes, required=True, metadata={
        "type": "array", "items": {"type": "string", "enum": SCOPE_NAMES},
        "description": "The scopes its tokens may carry", "example": ["users:read"]})
    created_by = fields.Integer(required=True, allow_none=True, metadata={
        "description": "The admin who registered it; null when a service account did", "example": 1})
    created_at = f.UtcIsoDateTime(required=True, metadata={"example": TIME_EXAMPLE})
    secrets = fields.Nested(ClientSecretPublic, many=True, required=True, metadata={
        "description": f"Its client secrets (at most {MAX_LIVE_SECRETS}: either works), oldest first"})


class ServiceAccountCreated(ServiceAccountPublic):
    """A service account just registered, with its first client secret: shown only now."""

    client_secret = fields.String(required=True, metadata={
        "description": "The client secret: store it now, it cannot be shown again (only its digest is kept)",
        "example": CLIENT_SECRET_EXAMPLE})


class ClientSecretCreated(ClientSecretPublic):
    """A client secret just added: shown only now."""

    client_secret = fields.String(required=True, metadata={
        "description": "The client secret: store it now, it cannot be shown again (only its digest is kept)",
        "example": CLIENT_SECRET_EXAMPLE})


class ServiceAccountList(Schema):
    """Every service account, oldest first (a handful: no pagination)."""

    items = fields.Nested(ServiceAccountPublic, many=True, required=True)


service_account_create = ServiceAccountCreate()
service_account_public = ServiceAccountPublic()
service_account_created = ServiceAccountCreated()
service_account_list = ServiceAccountList()
client_secret_created = ClientSecretCreated()
