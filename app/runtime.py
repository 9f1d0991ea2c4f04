"""What the app and gunicorn's master share: settings read from the environment (environs) and the JSON log line.

This module imports nothing else of the `app` package, on purpose: gunicorn.conf.py runs in gunicorn's master, which
must not load the app (each worker imports it after the fork, so that a HUP loads new code; app/__init__.py imports
the factory only on first use). app/configs.py,
app/observability/logs.py and gunicorn.conf.py all use it.

Settings, `EnvReader(environ=None, error=RuntimeError)`: environs' `Env` reading `environ` (a mapping; os.environ
when None) where a value that is empty or only whitespace counts as unset (docker-compose's `env_file` hands a `NAME=`
line over as an empty string); `int`, `float`, `bool`, `str` and `networks` return the default when unset, and a
malformed or out-of-range value raises `error` (the app passes its ConfigurationError) with a message that starts with
the variable's name: "ACCESS_TOKEN_TTL must be an integer, got 'soon'".

Log lines, `JsonLineFormatter(redactor=None)`: one JSON object per line, `timestamp` (ISO 8601, UTC, milliseconds,
`Z`), `level`, `logger`, `message`, `exc_info` (a traceback) when the record has one, then the record's extra fields
(`request_id`, an access line's fields, `pid` on gunicorn's own lines). docs/observability.md lists them.
"""
import ipaddress
import os
import time

import marshmallow
from environs import Env
from environs.exceptions import EnvValidationError
from pythonjsonlogger.json import JsonFormatter

LOG_FORMATS = ("json", "text")
_JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"
_JSON_NAMES = {"asctime": "timestamp", "levelname": "level", "name": "logger"}


def at_least(minimum, message="must be at least {min}, got {input}"):
    """A validator for `EnvReader.int/float(validate=...)`: the value is >= `minimum`, else `message` (after the
    variable's name; `{min}` and `{input}` are filled in)."""
    return marshmallow.validate.Range(min=minimum, error=message)


class _Flag(marshmallow.fields.Boolean):
    """true/false, any letter case: 1, true, yes, on / 0, false, no, off."""

    truthy = frozenset({"1", "true", "yes", "on"})
    falsy = frozenset({"0", "false", "no", "off"})
    default_error_messages = {"invalid": "must be true or false, got {input!r}"}

    def _deserialize(self, value, attr, data, **kwargs):
        lowered = value.lower() if isinstance(value, str) else value
        if lowered in self.truthy:
            return True
        if lowered in self.falsy:
            return False
        raise self.make_error("invalid", input=value)


_INTEGER = {"invalid": "must be an integer, got {input!r}"}
_NUMBER = {"invalid": "must be a number, got {input!r}", "special": "must be a number, got {input!r}"}


class EnvReader(Env):
    """environs' Env over `environ`, blank values unset, errors raised as `error` naming the variable (module
    docstring). Every method takes the variable's name and its default; `validate` takes marshmallow validators
    (`at_least`), whose messages follow the name."""

    def __init__(self, environ=None, error=RuntimeError):
        super().__init__(eager=True)
        self._environ = environ
        self._error = error
        self.add_parser_from_field("flag", _Flag)

    def _get_value(self, env_key, default):
        """environs' one place values come from (its FileAwareEnv overrides it too): our mapping, blank = unset."""
        value = (os.environ if self._environ is None else self._environ).get(env_key, default)
        return default if isinstance(value, str) and not value.strip() else value

    def _read(self, parse, name, default, **kwargs):
        try:
            return parse(name, default, **kwargs)
        except EnvValidationError as error:
            raise self._error(f"{name} {' '.join(error.error_messages)}") from None

    def int(self, name, default, validate=None):
        return self._read(super().int, name, default, validate=validate, error_messages=_INTEGER)

    def float(self, name, default, validate=None):
        return self._read(super().float, name, default, validate=validate, error_messages=_NUMBER)

    def bool(self, name, default):
        return self._read(self.flag, name, default)

    def str(self, name, default=""):
        """The value as given (not stripped), or `default`."""
        return self._read(super().str, name, default)

    def choice(self, name, default, choices):
        """The value stripped and lowercased, which must be one of `choices` (else `error`: "NAME must be a or b, got
        'c'"), or `default`."""
        value = self.str(name, default).strip().lower()
        if value not in choices:
            raise self._error(f"{name} must be {' or '.join(choices)}, got {value!r}")
        return value

    def networks(self, name, default):
        """A comma-separated list of CIDR networks ("10.0.0.0/8", "::1/128"; a bare address is one host) -> a tuple
        of ipaddress networks; "none": no network. A malformed network, or one with host bits set (10.0.0.1/8), raises
        `error`."""
        raw = self.str(name, default).strip()
        if raw.lower() == "none":
            return ()
        networks = []
        for item in filter(None, (part.strip() for part in raw.split(","))):
            try:
                networks.append(ipaddress.ip_network(item))
            except ValueError:
                raise self._error(f"{name}: {item!r} is not a network like 10.0.0.0/8 (host bits unset)") from None
        return tuple(networks)


class JsonLineFormatter(JsonFormatter):
    """python-json-logger's formatter with our field names and time format (module docstring); `redactor`, a callable
    str -> str, is applied to the whole line (the app's masks credentials and its configured secrets)."""

    def __init__(self, redactor=None):
        super().__init__(_JSON_FIELDS, rename_fields=_JSON_NAMES, json_ensure_ascii=False)
        self.redactor = redactor

    def formatTime(self, record, datefmt=None):  # noqa: N802  (logging.Formatter's name)
        """`2025-01-31T12:34:56.789Z`: the record's creation time in UTC, millisecond precision."""
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"

    def format(self, record):
        line = super().format(record)
        return self.redactor(line) if self.redactor is not None else line
