"""Schemas of the user resources: one family, one schema per shape (create, update, public, list)."""
from marshmallow import Schema, fields, validate

from app.dto import fields as f
from app.services.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE


class UserPublic(Schema):
    """A user as clients see it: never a password hash. Timestamps are ISO 8601 with a UTC offset."""

    id = fields.Integer(metadata={"example": 1})
    email = fields.String(metadata={"example": "ada@example.com"})
    name = fields.String(metadata={"example": "Ada Lovelace"})
    roles = fields.List(fields.String(), metadata={"example": ["user"]})
    is_active = fields.Boolean(metadata={"example": True})
    created_at = fields.DateTime(metadata={"example": "2026-01-01T12:00:00+00:00"})
    updated_at = fields.DateTime(metadata={"example": "2026-01-01T12:00:00+00:00"})


class UserList(Schema):
    """A page of users. `next_cursor` is null on the last page."""

    items = fields.List(fields.Nested(UserPublic))
    next_cursor = fields.String(allow_none=True)


class UserListQuery(Schema):
    """GET /users query: `limit` (1 to 100) and an opaque `cursor` from the previous page."""

    limit = fields.Integer(load_default=DEFAULT_PAGE_SIZE, validate=validate.Range(min=1, max=MAX_PAGE_SIZE))
    cursor = fields.String(load_default=None, validate=validate.Length(max=200))


class UserCreate(Schema):
    """POST /users body (admin). Without a password the account cannot log in with one."""

    email = f.email(required=True)
    name = f.name(required=True)
    password = f.password()
    roles = f.roles()
    is_active = fields.Boolean()


class UserUpdate(Schema):
    """PATCH /users/<id> body (admin): any subset of the fields."""

    email = f.email()
    name = f.name()
    password = f.password()
    roles = f.roles()
    is_active = fields.Boolean()


class MeUpdate(Schema):
    """PATCH /users/me body: `current_password` is required to change the password."""

    name = f.name()
    password = f.password()
    current_password = fields.String(load_only=True, validate=validate.Length(max=1024))


user_public = UserPublic()
user_list = UserList()
user_list_query = UserListQuery()
user_create = UserCreate()
user_update = UserUpdate()
me_update = MeUpdate()
