"""How request bodies are read: JSON as I-JSON (RFC 7493), and the webargs parser flask-apispec uses.

Statuses: invalid fields 400 (not webargs' default 422), a body that is not declared JSON 415, and a JSON body that
does not parse, for whatever reason, 400 with `errors: {"_body": ["Invalid JSON body: <why>."]}`. A body that does
not parse is never taken for a missing body (webargs' `load_json` does that with any error whose document is "").
"""
import json
import math

from flask.json.provider import DefaultJSONProvider
from webargs import core
from webargs.flaskparser import FlaskParser, abort
from werkzeug.exceptions import UnsupportedMediaType


class InvalidJson(ValueError):
    """A JSON text that is not an I-JSON message (RFC 7493). `str(error)` says why without quoting the text."""


def _refuse_constant(name):
    raise InvalidJson(f"{name} is not a JSON number (RFC 8259 section 6)")


def _finite_float(text):
    value = float(text)
    if math.isinf(value):
        raise InvalidJson("a number is out of the range of IEEE 754 doubles (RFC 7493 section 2.2)")
    return value


def _object_without_duplicates(pairs):
    value = dict(pairs)
    if len(value) != len(pairs):
        raise InvalidJson("an object has two members with the same name (RFC 7493 section 2.3)")
    return value


def _has_lone_surrogate(value):
    """True when a string anywhere in the parsed `value` (keys too) holds a UTF-16 surrogate code point, which only
    an unpaired `\\ud800`-style escape can produce. Iterative: `value` may be as deep as the parser allowed."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def loads_i_json(data):
    """Parse `data` (bytes, or an already decoded str) as an I-JSON message (RFC 7493); returns the value.

    Raises InvalidJson (a ValueError) when `data` is not UTF-8 (RFC 8259 section 8.1; a byte order mark included),
    is not JSON, holds `NaN` or `Infinity`, a number beyond a double's range, an integer with more digits than
    Python converts (`sys.get_int_max_str_digits()`, 4,300), nesting deeper than the interpreter recurses, an
    unpaired UTF-16 surrogate escape (RFC 7493 section 2.1: no UTF-8 database, hasher or log can take one) or an
    object with a repeated member name (section 2.3).
    """
    try:
        text = data if isinstance(data, str) else data.decode("utf-8")
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float,
                           object_pairs_hook=_object_without_duplicates)
    except InvalidJson:
        raise
    except UnicodeDecodeError:
        raise InvalidJson("the body is not UTF-8 (RFC 8259 section 8.1)") from None
    except json.JSONDecodeError as error:
        raise InvalidJson(f"{error.msg} at line {error.lineno} column {error.colno}") from None
    except ValueError:  # int(): more digits than sys.get_int_max_str_digits()
        raise InvalidJson("an integer has too many digits") from None
    except RecursionError:
        raise InvalidJson("arrays or objects are nested too deeply") from None
    if "\\u" in text and _has_lone_surrogate(value):
        raise InvalidJson("a string holds an unpaired UTF-16 surrogate (RFC 7493 section 2.1)")
    return value


class IJsonProvider(DefaultJSONProvider):
    """Flask's JSON provider reading I-JSON (`loads_i_json`, so `request.get_json()` refuses what the parser
    refuses: Flask answers its 400, `silent=True` gives None) and writing members in the order the DTOs declare."""

    sort_keys = False

    def loads(self, s, **kwargs):
        """`loads_i_json(s)`; raises InvalidJson (a ValueError). Keyword arguments of `json.loads` are refused."""
        if kwargs:
            raise TypeError(f"loads_i_json takes no options: {sorted(kwargs)}")
        return loads_i_json(s)


class ApiParser(FlaskParser):
    """FlaskParser with the contract's statuses: invalid fields 400, a non-JSON body 415, JSON that is not I-JSON
    400."""

    DEFAULT_VALIDATION_STATUS = 400

    def load_json(self, req, schema):
        """The body parsed by `loads_i_json`, or `missing` when there is no body at all (zero bytes).

        Raises 415 (UnsupportedMediaType) when the request does not declare `application/json` (or `+json`), 400
        (webargs' invalid-JSON error, `{"json": ["Invalid JSON body: <why>."]}`) when the body is not I-JSON, and
        413 when it is larger than MAX_CONTENT_LENGTH.
        """
        if not req.is_json:
            raise UnsupportedMediaType("The request body must be JSON, sent with Content-Type: application/json.")
        data = req.get_data(cache=True)
        if not data:
            return core.missing
        try:
            return loads_i_json(data)
        except InvalidJson as error:
            return self._handle_invalid_json_error(error, req)

    def _handle_invalid_json_error(self, error, req, *args, **kwargs):
        """400, with the reason in webargs' invalid-JSON message (the problem's `errors._body`)."""
        abort(400, exc=error, messages={"json": [f"Invalid JSON body: {error}."]})


parser = ApiParser()
