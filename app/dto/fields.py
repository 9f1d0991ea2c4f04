"""Field definitions shared by several schemas, with limits equal to the column lengths."""
from marshmallow import fields, validate

from app.entities import Role
from app.entities.user import EMAIL_MAX_LENGTH, NAME_MAX_LENGTH
from app.services.passwords import PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH


def email(**kwargs):
    """An email address, at most 254 characters (RFC 5321)."""
    return fields.Email(validate=validate.Length(max=EMAIL_MAX_LENGTH), metadata={"example": "ada@example.com"},
                        **kwargs)


def name(**kwargs):
    """A display name, 1 to 100 characters."""
    return fields.String(validate=validate.Length(min=1, max=NAME_MAX_LENGTH),
                         metadata={"example": "Ada Lovelace"}, **kwargs)


def password(**kwargs):
    """A new password: 8 to 128 characters, no composition rules."""
    return fields.String(validate=validate.Length(min=PASSWORD_MIN_LENGTH, max=PASSWORD_MAX_LENGTH),
                         load_only=True, metadata={"example": "correct horse battery staple"}, **kwargs)


def roles(**kwargs):
    """A non-empty list of role names."""
    return fields.List(fields.String(validate=validate.OneOf(Role.values())), validate=validate.Length(min=1),
                       metadata={"example": ["user"]}, **kwargs)
