"""The webargs parser flask-apispec uses: 400 (not webargs' default 422) and 415 for bodies that are not JSON."""
import json

from webargs import core
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import UnsupportedMediaType


class ApiParser(FlaskParser):
    """FlaskParser with the contract's statuses: invalid fields 400, a non-JSON body 415."""

    DEFAULT_VALIDATION_STATUS = 400

    def load_json(self, req, schema):
        """Parse the JSON body; raise 415 when the request does not declare `application/json` (or `+json`)."""
        if not req.is_json:
            raise UnsupportedMediaType("The request body must be JSON, sent with Content-Type: application/json.")
        return super().load_json(req, schema)

    def _raw_load_json(self, req):
        """Parse the body, also treating as malformed (400) what webargs lets through as a 500: nesting deeper than
        the interpreter recurses, integers longer than Python converts, and lone UTF-16 surrogates (\\ud800), which
        no UTF-8 database, hasher or log can take."""
        try:
            data = core.parse_json(req.get_data(cache=True))
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except (RecursionError, ValueError, UnicodeEncodeError) as exc:
            if isinstance(exc, json.JSONDecodeError):
                raise
            raise json.JSONDecodeError(f"Unusable JSON: {exc.__class__.__name__}", "", 0) from None
        return data


parser = ApiParser()
