"""The webargs parser flask-apispec uses: 400 (not webargs' default 422) and 415 for bodies that are not JSON."""
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


parser = ApiParser()
