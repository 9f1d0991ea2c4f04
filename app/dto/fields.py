"""Field definitions shared by several schemas, with limits equal to the column lengths.

Text that people type (names, email addresses, search prefixes, passwords) refuses control characters (Unicode
category Cc: U+0000-U+001F, U+007F-U+009F, so NUL, tab, newlines, escape, DEL, C1), with a 400 naming the field: no
keyboard types them, and a NUL or a newline in an address, a log line or a mail header is an attack, not a name. The
rule is a `pattern` the OpenAPI document states, matched as JSON Schema means it (the whole value, `Pattern`).
Opaque tokens are not text: any string is looked up, and one that was never issued is refused like any other.
"""
import datetime as dt
import re

from marshmallow import ValidationError, fields, validate

from app.entities import Role
from app.entities.user import EMAIL_MAX_LENGTH, NAME_MAX_LENGTH
from app.services.passwords import PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH

CHECKED_PASSWORD_MAX_LENGTH = 1024  # characters: a password being checked, not set; the bound only stops abuse


class Pattern(validate.Regexp):
    """marshmallow's Regexp as JSON Schema's `pattern` reads it (ECMA-262, `$` is the end of the value): the whole
    value must match. `re.match` with Python's `$`, which also matches before a final newline, let "Ada\\n" through
    `^[^\\n]*$`. Raises ValidationError with `error`."""

    def __call__(self, value):
        if self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


_CC = r"\x00-\x1f\x7f-\x9f"  # Unicode category Cc
NO_CONTROL_CHARACTERS = Pattern(rf"^[^{_CC}]*$", error="Must not contain control characters (U+0000-U+001F, "
                                                      "U+007F-U+009F).")
# Not blank either.
ONE_LINE_TEXT = Pattern(rf"^[^{_CC}]*[^\s{_CC}][^{_CC}]*$", error="Must not be blank or contain control characters.")

# The part before the @ must be printable ASCII: mail to internationalized local parts needs SMTPUTF8 (RFC 6531),
# which the mail transport (repoze.sendmail) cannot speak, and every account receives mail; fields.Email would take
# control characters there in a quoted local part (`"\x01"@example.com`). Domains may be internationalized.
# Spelled as the whole address (up to the last @, the one fields.Email splits on): a prefix-only pattern next to
# `format: email` and `maxLength` leaves schemathesis 4.32 unable to generate any valid address (Unsatisfiable): its
# fuzzing then sent no valid POST /users or /auth/register body at all.
EMAIL_CHARACTERS = Pattern(rf"^[\x20-\x7e]+@[^@{_CC}]+$",
                           error="Characters before the @ must be printable ASCII; no control characters.")


def email(**kwargs):
    """An email address to store: at most 254 characters (RFC 5321), printable ASCII before the @, no control
    characters."""
    return fields.Email(validate=[validate.Length(max=EMAIL_MAX_LENGTH), EMAIL_CHARACTERS],
                        metadata={"example": "ada@example.com",
                                  "description": "At most 254 characters (RFC 5321); printable ASCII before the @ "
                                                 "(mail to other local parts needs SMTPUTF8); no control "
                                                 "characters."}, **kwargs)


def email_to_look_up(min_length=None, **kwargs):
    """The address of an account to find (login, password reset): `min_length` to 254 characters, no control
    characters (no stored address holds one), otherwise not checked: an address no account has is answered as
    such."""
    return fields.String(validate=[validate.Length(min=min_length, max=EMAIL_MAX_LENGTH), NO_CONTROL_CHARACTERS],
                         metadata={"example": "ada@example.com",
                                   "description": "The account's address; control characters (U+0000-U+001F, "
                                                  "U+007F-U+009F) are refused (400)."}, **kwargs)


def search_prefix(**kwargs):
    """A prefix to search for: at most 254 characters, no control characters (no email or name holds one)."""
    return fields.String(validate=[validate.Length(max=EMAIL_MAX_LENGTH), NO_CONTROL_CHARACTERS], **kwargs)


def name(**kwargs):
    """A display name, 1 to 100 characters, not blank, no control characters."""
    return fields.String(validate=[validate.Length(min=1, max=NAME_MAX_LENGTH), ONE_LINE_TEXT],
                         metadata={"example": "Ada Lovelace",
                                   "description": "1 to 100 characters, not blank, no control characters "
                                                  "(U+0000-U+001F, U+007F-U+009F: NUL, tab, line breaks)."},
                         **kwargs)


# Text of several lines: tab, CR and LF allowed, every other control character refused.
_CC_BUT_LAYOUT = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
MULTI_LINE_TEXT = Pattern(rf"^[^{_CC_BUT_LAYOUT}]*$", error="Must not contain control characters other than tab and "
                                                          "line breaks (U+0000-U+0008, U+000B, U+000C, "
                                                          "U+000E-U+001F, U+007F-U+009F).")


def one_line_text(max_length, example, **kwargs):
    """Text on one line of 1 to `max_length` characters (a title), not blank, no control characters; the rule is the
    field's `pattern` in the OpenAPI document."""
    return fields.String(validate=[validate.Length(min=1, max=max_length), ONE_LINE_TEXT],
                         metadata={"example": example,
                                   "description": f"1 to {max_length} characters on one line, not blank, no control "
                                                  "characters."},
                         **kwargs)


def multi_line_text(max_length, example, **kwargs):
    """Free text of up to `max_length` characters (a note, a description): tab and line breaks (CR, LF) allowed,
    every other control character refused; the rule is the field's `pattern` in the OpenAPI document."""
    return fields.String(validate=[validate.Length(max=max_length), MULTI_LINE_TEXT],
                         metadata={"example": example,
                                   "description": f"At most {max_length} characters; tab and line breaks allowed, "
                                                  "no other control characters."},
                         **kwargs)


_DECIMAL = re.compile(r"-?[0-9]+")


class DecimalInteger(fields.Integer):
    """An integer; in a query string, ASCII decimal digits with an optional "-" only (the `integer` of the OpenAPI
    document). marshmallow reads query values with `int()`, which also takes "\u0661" (an Arabic-Indic one), "1_0",
    "+1" and " 1": several spellings of one value."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str) and _DECIMAL.fullmatch(value) is None:
            raise self.make_error("invalid", input=value)
        return super()._deserialize(value, attr, data, **kwargs)


class UtcDateTime(fields.AwareDateTime):
    """An ISO 8601 date and time read as an aware datetime in UTC (without an offset: `default_timezone`, UTC). One
    whose UTC time falls outside the years 1 to 9999 (`9999-12-31T23:59:59-14:00`, `0001-01-01T00:00:00+14:00`) is
    invalid (ValidationError), rather than an OverflowError where it is converted for the database; so are digits
    other than ASCII ones, which marshmallow's ISO 8601 pattern (`\\d`) would read, and control characters (a
    trailing line break would pass its `$`)."""

    default_error_messages = {"out_of_range": "Must fall between the years 1 and 9999 in UTC."}

    def _deserialize(self, value, attr, data, **kwargs):
        # isprintable: marshmallow's pattern ends in `$`, which also matches before a trailing line break
        if isinstance(value, str) and not (value.isascii() and value.isprintable()):
            raise self.make_error("invalid", input=value, obj_type=self.OBJ_TYPE)
        parsed = super()._deserialize(value, attr, data, **kwargs)
        try:
            return parsed.astimezone(dt.UTC)
        except OverflowError:
            raise self.make_error("out_of_range") from None


class StrictBoolean(fields.Boolean):
    """A JSON boolean: only true and false (marshmallow's Boolean also takes "yes", 1, "on", ...)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


def boolean(**kwargs):
    """A JSON boolean field: true or false only."""
    return StrictBoolean(**kwargs)


PRINTABLE_UNICODE_RULE = (
    "Any printable Unicode, spaces included, no composition rules (NIST SP 800-63B, OWASP ASVS 5.0 V6.2); control "
    "characters (U+0000-U+001F, U+007F-U+009F: NUL, tab, newlines, DEL) are refused, since no keyboard or password "
    "manager types them alike everywhere.")


def password(**kwargs):
    """A new password: 8 to 128 characters (code points), by PRINTABLE_UNICODE_RULE. The service also refuses
    common ones (ValidationFailed)."""
    return fields.String(validate=[validate.Length(min=PASSWORD_MIN_LENGTH, max=PASSWORD_MAX_LENGTH),
                                   NO_CONTROL_CHARACTERS], load_only=True,
                         metadata={"example": "correct horse battery staple",
                                   "description": f"{PASSWORD_MIN_LENGTH} to {PASSWORD_MAX_LENGTH} characters. "
                                                  f"{PRINTABLE_UNICODE_RULE}"}, **kwargs)


def password_to_check(**kwargs):
    """A password to verify (login, `current_password`): at most 1,024 characters and no control characters, as
    `password()` refuses them; no length or policy check, since any wrong password is a plain 401 (or 403)."""
    return fields.String(validate=[validate.Length(max=CHECKED_PASSWORD_MAX_LENGTH), NO_CONTROL_CHARACTERS],
                         load_only=True,
                         metadata={"example": "correct horse battery staple",
                                   "description": "Control characters (U+0000-U+001F, U+007F-U+009F) are refused "
                                                  "(400), as in new passwords."}, **kwargs)


def roles(**kwargs):
    """A non-empty list of role names."""
    return fields.List(fields.String(validate=validate.OneOf(Role.values())), validate=validate.Length(min=1),
                       metadata={"example": ["user"]}, **kwargs)


class UtcIsoDateTime(fields.DateTime):
    """Output-only ISO 8601 timestamp of an aware datetime (our columns return UTC): `datetime.isoformat()` directly,
    without marshmallow's format dispatch, which costs most of a user's serialization in lists."""

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else value.isoformat()
