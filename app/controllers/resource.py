"""The base of every resource: a flask-apispec MethodResource whose per-request annotation work is done once."""
import flask
import werkzeug
from flask.views import http_method_funcs
from flask_apispec import MethodResource, utils
from flask_apispec.annotations import annotate
from flask_apispec.wrapper import Wrapper, packed, unpack


class CachedWrapper(Wrapper):
    """flask-apispec's Wrapper, resolving a view's `use_kwargs`/`marshal_with` annotations once per view function
    and resource class instead of on every call (measured: docs/performance.md, "Per-request overheads"). Same
    behaviour otherwise; annotations referring to instance attributes (`Ref`) are not used here."""

    _resolved = {}

    def _annotations(self, key):
        cache_key = (self.func, type(self.instance), key)
        found = self._resolved.get(cache_key)
        if found is None:
            annotation = utils.resolve_annotations(self.func, key, self.instance)
            options = utils.merge_recursive(annotation.options) if key == "schemas" else annotation.options
            found = self._resolved[cache_key] = (annotation.apply, options)
        return found

    def __call__(self, *args, **kwargs):
        response = self.call_view(*args, **kwargs)
        if isinstance(response, werkzeug.Response):
            return response
        rv, status_code, headers = unpack(response)
        return flask.current_app.make_response(packed(self.marshal_result(rv, status_code), status_code, headers))

    def call_view(self, *args, **kwargs):
        apply, options = self._annotations("args")
        if apply is not False:
            parser = flask.current_app.config["APISPEC_WEBARGS_PARSER"]
            for option in options:
                kwargs.update(parser.parse(option["args"], location=option["kwargs"]["location"]))
        return self.func(*args, **kwargs)

    def marshal_result(self, result, status_code):
        apply, schemas = self._annotations("schemas")
        schema = schemas.get(status_code, schemas.get("default"))
        if schema and apply is not False and schema.get("schema"):
            result = schema["schema"].dump(result)
        return flask.jsonify(result)


class ApiResource(MethodResource):
    """Base resource: its HTTP methods run through CachedWrapper. Schemas must be passed as instances."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name in http_method_funcs:
            method = cls.__dict__.get(name)
            if method is not None and hasattr(method, "__apispec__"):
                annotate(method, "wrapper", [{"wrapper": CachedWrapper}])


def next_page_link(endpoint, page, query):
    """Headers for a page of a collection: `{"Link": '<url>; rel="next"'}` (RFC 8288) naming the next page, or {}
    on the last one. `endpoint`: the collection's URL rule name; `page`: the service's Page; `query`: this request's
    parsed query parameters (None values and the cursor are left out; datetimes and booleans are written back as
    ISO 8601 and true/false)."""
    if not page.next_cursor:
        return {}
    args = {name: _query_value(value) for name, value in query.items() if value is not None and name != "cursor"}
    return {"Link": f'<{flask.url_for(endpoint, **args, cursor=page.next_cursor, _external=True)}>; rel="next"'}


def _query_value(value):
    """Query-string form of a parsed parameter (datetimes back to ISO 8601, booleans to true/false)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value.isoformat() if hasattr(value, "isoformat") else value


def no_content(status=204):
    """An empty response, 204 unless given: no body, so no Content-Type either (RFC 9110 15.3.5)."""
    response = flask.Response(status=status)
    del response.headers["Content-Type"]
    return response
