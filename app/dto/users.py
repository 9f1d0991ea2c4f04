"""Schemas of the user resources: one family, one schema per shape (create, update, public, list)."""
import datetime as dt

from marshmallow import Schema, fields, post_dump, validate

from app.dto import fields as f
from app.dto.list_query import ListQuery
from app.entities import Role
from app.queries.users import USER_SORTS


class UserPublic(Schema):
    """A user as clients see it: never a password hash. Timestamps are ISO 8601 with a UTC offset. Output only:
    `required` says every field is always sent."""

    id = fields.Integer(required=True, metadata={"example": 1})
    email = fields.String(required=True, metadata={"example": "ada@example.com"})
    name = fields.String(required=True, metadata={"example": "Ada Lovelace"})
    # Already a list of str on both entity and read model: passed through, typed for the document.
    roles = fields.Raw(required=True, metadata={"type": "array", "items": {"type": "string"}, "example": ["user"]})
    is_active = fields.Boolean(required=True, metadata={"example": True})
    email_verified = fields.Boolean(required=True, metadata={
        "example": True, "description": "The owner proved they receive mail at `email`"})
    mfa_enabled = fields.Boolean(required=True, metadata={
        "example": False, "description": "Sign-ins ask for a second factor (an authenticator app or a passkey)"})
    sign_in_alerts = fields.Boolean(required=True, metadata={
        "example": False, "description": "The owner is mailed when a sign-in comes from a new device (opt-in)"})
    created_at = f.UtcIsoDateTime(required=True, metadata={"example": "2026-01-01T12:00:00+00:00"})
    updated_at = f.UtcIsoDateTime(required=True, metadata={"example": "2026-01-01T12:00:00+00:00"})

    def get_attribute(self, obj, attr, default):
        # Users are objects with plain attributes (entity or read model): skip marshmallow's generic lookup
        # (dict keys, dotted paths), a third of a page's serialization time.
        return getattr(obj, attr, default)


class UserList(Schema):
    """A page of users. `next_cursor` is null on the last page; `total` is present only with `include_total=true`."""

    items = fields.Nested(UserPublic, many=True, required=True)  # one dump of the whole page, not one per item
    next_cursor = fields.String(required=True, allow_none=True,
                                metadata={"example": "eyJzIjoiaWQiLCJrIjoyMCwidCI6MjB9"})
    total = fields.Integer(metadata={"example": 42})

    @post_dump
    def drop_total_unless_asked(self, data, **kwargs):
        if data.get("total") is None:
            data.pop("total", None)
        return data


_BOUND = "ISO 8601; exclusive. Without an offset: UTC. In UTC, between the years 1 and 9999."


class UserListQuery(ListQuery):
    """GET /users query: filters (all combined with AND), sort, keyset pagination. Empty parameters are absent."""

    q = f.search_prefix(metadata={"description": "Prefix of the email or of the name; no control characters."})
    role = fields.String(validate=validate.OneOf(Role.values()), metadata={"description": "Holds this role."})
    is_active = fields.Boolean()
    created_after = f.UtcDateTime(default_timezone=dt.UTC, metadata={"description": _BOUND})
    created_before = f.UtcDateTime(default_timezone=dt.UTC, metadata={"description": _BOUND})
    sort = fields.String(load_default="id", validate=validate.OneOf(list(USER_SORTS)),
                         metadata={"description": "Sort key; a leading `-` sorts descending. Ties break by id."})
    include_total = fields.Boolean(load_default=False,
                                   metadata={"description": "Also count every matching user (slower)."})


class UserCreate(Schema):
    """POST /users body (admin). Without a password the account cannot log in with one."""

    email = f.email(required=True)
    name = f.name(required=True)
    password = f.password()
    roles = f.roles()
    is_active = f.boolean()


class UserUpdate(Schema):
    """PATCH /users/<id> body (admin): any subset of the fields."""

    email = f.email()
    name = f.name()
    password = f.password()
    roles = f.roles()
    is_active = f.boolean()


class MeUpdate(Schema):
    """PATCH /users/me body: `current_password` is required to change the password."""

    name = f.name()
    sign_in_alerts = f.boolean(metadata={"description": "Mail me when a sign-in comes from a device none of my "
                                                        "recent sessions came from."})
    password = f.password()
    current_password = f.password_to_check()


user_public = UserPublic()
user_list = UserList()
user_list_query = UserListQuery()
user_create = UserCreate()
user_update = UserUpdate()
me_update = MeUpdate()
