"""Field definitions shared by several schemas, with limits equal to the column lengths."""
from marshmallow import fields, validate

from app.entities import Role
from app.entities.user import EMAIL_MAX_LENGTH, NAME_MAX_LENGTH
from app.services.passwords import PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH

# The part before the @ must be ASCII: mail to internationalized local parts needs SMTPUTF8 (RFC 6531), which the
# mail transport (repoze.sendmail) cannot speak, and every account receives mail. Domains may be internationalized.
# Spelled as the whole address (up to the last @, the one fields.Email splits on): on every address fields.Email
# accepts it agrees with the bare prefix `^[\x00-\x7f]+@`, but a prefix-only pattern next to `format: email` and
# `maxLength` leaves schemathesis 4.32 unable to generate any valid address (Unsatisfiable): its fuzzing then sent
# no valid POST /users or /auth/register body at all.
ASCII_LOCAL_PART = validate.Regexp(r"^[\x00-\x7f]+@[^@]+$", error="Characters before the @ must be ASCII.")


def email(**kwargs):
    """An email address, at most 254 characters (RFC 5321), with an ASCII local part."""
    return fields.Email(validate=[validate.Length(max=EMAIL_MAX_LENGTH), ASCII_LOCAL_PART],
                        metadata={"example": "ada@example.com"}, **kwargs)


# Not blank, and no control characters (Unicode category Cc: NUL, newlines, DEL, C1), as a pattern so the
# OpenAPI document states it too.
_CC = r"\x00-\x1f\x7f-\x9f"
ONE_LINE_TEXT = validate.Regexp(rf"^[^{_CC}]*[^\s{_CC}][^{_CC}]*$",
                                error="Must not be blank or contain control characters.")


def name(**kwargs):
    """A display name, 1 to 100 characters, not blank, no control characters."""
    return fields.String(validate=[validate.Length(min=1, max=NAME_MAX_LENGTH), ONE_LINE_TEXT],
                         metadata={"example": "Ada Lovelace"}, **kwargs)


class StrictBoolean(fields.Boolean):
    """A JSON boolean: only true and false (marshmallow's Boolean also takes "yes", 1, "on", ...)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


def boolean(**kwargs):
    """A JSON boolean field: true or false only."""
    return StrictBoolean(**kwargs)


def password(**kwargs):
    """A new password: 8 to 128 characters, no composition rules."""
    return fields.String(validate=validate.Length(min=PASSWORD_MIN_LENGTH, max=PASSWORD_MAX_LENGTH),
                         load_only=True, metadata={"example": "correct horse battery staple"}, **kwargs)


def roles(**kwargs):
    """A non-empty list of role names."""
    return fields.List(fields.String(validate=validate.OneOf(Role.values())), validate=validate.Length(min=1),
                       metadata={"example": ["user"]}, **kwargs)


class UtcIsoDateTime(fields.DateTime):
    """Output-only ISO 8601 timestamp of an aware datetime (our columns return UTC): `datetime.isoformat()` directly,
    without marshmallow's format dispatch, which costs most of a user's serialization in lists."""

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else value.isoformat()
