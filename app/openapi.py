"""The OpenAPI 3.1 document at /openapi.json (also at /swagger/, its old address) and Swagger UI 5 at /swagger-ui/.

Controllers are annotated with flask-apispec (`@doc`, `@use_kwargs`, `@marshal_with`, `app/controllers/docs.py`);
apispec and its MarshmallowPlugin render the marshmallow schemas as OpenAPI 3.1 (nullable fields as type unions).
flask-apispec 0.11's `ResourceConverter` still shapes each operation the Swagger 2.0 way: a request body is an
`in: body` parameter (or `in: formData` ones), a response carries `schema` directly, a path parameter carries `type`.
`OpenApi31Converter` is the one place that turns those shapes into OpenAPI 3.1 ones: `requestBody` with `content`,
per-response `content` (application/json on success, application/problem+json on errors, none without a schema),
parameter and header objects with `schema`. tests/test_openapi.py pins the shapes it expects from flask-apispec.
Why, and what replaces flask-apispec if it goes: docs/decisions/0001-openapi-3.1-through-flask-apispec.md.

Swagger UI's files come from the flask-swagger-ui package (pinned in requirements/production.txt; it ships
swagger-ui-dist), served by the app itself, so the page works offline. Our own page has no inline script, and gets a
Content-Security-Policy of its own, narrower than app/http_policies.py's CSP_HTML: Swagger UI 5 needs only its own
scripts and styles (it styles through the DOM, which `style-src` does not govern, so no 'unsafe-inline'), the
`data:` SVG icons its stylesheet embeds, and same-origin requests (the document, "Try it out");
tests/test_browser.py fails on any violation.
"""
import http
import importlib.resources

import flask
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask_apispec import FlaskApiSpec
from flask_apispec.apidoc import ResourceConverter
from werkzeug.routing.converters import IntegerConverter, NumberConverter, UnicodeConverter

from app.controllers import iter_resources
from app.controllers.parsing import parser
from app.entities.scope import Scope
from app.injection import injected_arguments
from app.media_types import FORM, JSON, PROBLEM_JSON

API_TITLE = "Gatehouse"
API_VERSION = "1.0.0"
OPENAPI_VERSION = "3.1.0"
SWAGGER_UI_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
                  "frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
LEGACY_DOCUMENT_URL = "/swagger/"  # where the Swagger 2.0 document used to be: the same document, for old links
SWAGGER_UI_DIST = importlib.resources.files("flask_swagger_ui") / "dist"

TAGS = [
    {"name": "auth", "description": "Registration, password and social login, tokens, logout, email verification, "
                                    "password reset"},
    {"name": "users", "description": "Your own account, the user directory, and admin management of users"},
    {"name": "mfa", "description": "Second factors: an authenticator app (TOTP, RFC 6238) and recovery codes; an "
                                   "admin's reset"},
    {"name": "passkeys", "description": "Passkeys (WebAuthn Level 3): register, list, delete, sign in with one, or "
                                        "use one as the second factor"},
    {"name": "tokens", "description": "Personal access tokens: scoped, expiring bearer tokens for scripts and CI "
                                      "jobs; an admin's view of any user's"},
    {"name": "service-accounts", "description": "Service accounts (admins): machine clients without a user that "
                                                "obtain access tokens with the OAuth 2.0 client credentials grant "
                                                "(RFC 6749 4.4) at POST /api/v1/oauth/token; their scopes and client "
                                                "secrets, rotated without downtime"},
    {"name": "audit", "description": "The security audit trail (admins)"},
    {"name": "operations", "description": "Liveness and readiness probes"},
]
BEARER_SCHEME = {"type": "http", "scheme": "bearer",
                 "description": "A bearer token (RFC 6750), sent as `Authorization: Bearer <token>`: the "
                                "`access_token` of a sign-in (POST /api/v1/auth/login and the other sign-ins), which "
                                "holds every scope; a personal access token (`gatehouse_pat_...`, POST "
                                "/api/v1/users/me/tokens), which holds the scopes it was given; or a service "
                                "account's access token (the `oauth2` scheme). Each operation lists the scopes it "
                                "needs; a token without them gets 403 `insufficient_scope` (RFC 6750 3.1)."}
OAUTH2_SCHEME = {"type": "oauth2",
                 "description": "Service accounts (registered by an admin) obtain access tokens with the client "
                                "credentials grant (RFC 6749 4.4); the scopes are the same for every kind of bearer "
                                "token. `credentials` is held only by sign-in sessions.",
                 "flows": {"clientCredentials": {
                     "tokenUrl": "/api/v1/oauth/token",
                     "scopes": {str(scope): scope.description for scope in Scope}}}}

# Keywords of a Swagger 2.0 parameter or header object that belong in its `schema` in OpenAPI 3.
SCHEMA_KEYWORDS = ("type", "format", "items", "default", "enum", "minimum", "maximum", "exclusiveMinimum",
                   "exclusiveMaximum", "minLength", "maxLength", "pattern", "minItems", "maxItems", "uniqueItems",
                   "multipleOf")
INT64 = range(-2**63, 2**63)


class OpenApi31Converter(ResourceConverter):
    """flask-apispec's ResourceConverter, its Swagger 2.0 shapes turned into OpenAPI 3.1 ones.

    - `in: body` parameter (`use_kwargs(location="json")`) -> `requestBody` with `application/json` content;
    - `in: formData` parameters (`location="form"`; `"files"` too) -> one `requestBody` whose
      `application/x-www-form-urlencoded` (`multipart/form-data` with files) schema has those fields;
    - query and header parameters (`location="query"`, `"headers"`, `@doc(params=...)`) keep their place, with
      their schema keywords under `schema`, without `null` (a URL or a header cannot carry a JSON null);
    - path parameters get their schema from the route's converter (bounds of `int`, the pattern of `string`);
    - a response `schema` -> `content` of `application/json` (below 400) or `application/problem+json` (400 and
      up), unless `@doc(responses=...)` states the content; no schema (204, 304) -> no content; response headers
      get `schema`; a missing description gets the status's reason phrase (an empty `@marshal_with` description
      no longer hides `@doc(responses=...)`'s).
    """

    def get_operation(self, rule, view, parent=None):
        operation = super().get_operation(rule, view, parent)
        parameters, body = [], []
        for parameter in operation.pop("parameters", []):
            (body if parameter["in"] in ("body", "formData") else parameters).append(parameter)
        if parameters:
            operation["parameters"] = _in_rule_order([_parameter(p, rule) for p in parameters], rule)
        if body:
            operation["requestBody"] = _request_body(body)
        responses = operation.get("responses", {})
        operation["responses"] = {code: _response(code, responses[code]) for code in sorted(responses, key=str)}
        return {key: operation[key] for key in sorted(operation, key=_key_order)}

    def get_responses(self, view, parent=None):
        """`@marshal_with` without a description says "", which flask-apispec's merge would prefer to the
        description `@doc(responses=...)` gives: drop it."""
        responses = super().get_responses(view, parent)
        for response in responses.values():
            if not response.get("description"):
                response.pop("description", None)
        return responses


OPERATION_KEYS = ("tags", "operationId", "summary", "description", "security", "parameters", "requestBody",
                  "responses")


def _key_order(key):
    """Operation members in reading order (flask-apispec's merge leaves them in set order)."""
    return OPERATION_KEYS.index(key) if key in OPERATION_KEYS else len(OPERATION_KEYS)


def _in_rule_order(parameters, rule):
    """`parameters` with the path ones in the order the route names them (flask-apispec lists them from a set:
    `/users/{user_id}/tokens/{token_id}` came out either way from run to run, and generated clients take them as
    positional arguments); the others keep their places."""
    names = list(rule._converters)  # in the order the rule names them
    slots = [i for i, p in enumerate(parameters) if p["in"] == "path"]
    ordered = sorted((parameters[i] for i in slots),
                     key=lambda p: names.index(p["name"]) if p["name"] in names else len(names))
    for slot, parameter in zip(slots, ordered, strict=True):
        parameters[slot] = parameter
    return parameters


def _request_body(body):
    """One requestBody from the `in: body` parameter (a $ref already) and/or the `in: formData` ones."""
    content, required, description = {}, False, None
    form = {"type": "object", "properties": {}}
    for parameter in body:
        if parameter["in"] == "body":
            content[JSON] = {"schema": parameter["schema"]}
            required = required or parameter.get("required", False)
            description = parameter.get("description", description)
            continue
        schema = dict(parameter["schema"])
        if "description" in parameter:
            schema["description"] = parameter["description"]
        form["properties"][parameter["name"]] = schema
        if parameter.get("required"):
            form.setdefault("required", []).append(parameter["name"])
            required = True
    if form["properties"]:
        content[FORM] = {"schema": form}
    request_body = {"required": required, "content": content}
    if description:
        request_body["description"] = description
    return request_body


def _parameter(parameter, rule):
    parameter = _with_schema(parameter, drop=("collectionFormat",))
    schema = parameter["schema"]
    if parameter["in"] == "path" and parameter["name"] in rule._converters:
        schema.update(_converter_schema(rule._converters[parameter["name"]], schema))
    if isinstance(schema.get("type"), list):  # a query string or header is never JSON null: absent is the default
        schema["type"] = [t for t in schema["type"] if t != "null"]
        if len(schema["type"]) == 1:
            schema["type"] = schema["type"][0]
    if "default" in schema and schema["default"] is None:
        del schema["default"]
    return parameter


def _converter_schema(converter, schema):
    """The values a Werkzeug route converter accepts, as schema keywords (flask-apispec says int32 for every int, and
    `string` for a subclass of Werkzeug's converters, such as app/http_policies.py's `int`)."""
    if isinstance(converter, NumberConverter):
        bounds = {"minimum": converter.min if converter.min is not None else (None if converter.signed else 0),
                  "maximum": converter.max}
        bounds = {key: value for key, value in bounds.items() if value is not None}
        schema["type"] = "integer" if isinstance(converter, IntegerConverter) else "number"
        if schema["type"] == "integer":
            schema.pop("format", None)
            if bounds.get("minimum") in INT64 and bounds.get("maximum") in INT64:
                bounds["format"] = "int64"
        return bounds
    if isinstance(converter, UnicodeConverter):
        return {"pattern": f"^{converter.regex}$"}
    return {}


def _response(code, response):
    response = dict(response)
    status = int(code) if str(code).isdigit() else None  # None: "default"
    schema = response.pop("schema", None)
    if schema and "content" not in response:  # content stated in @doc(responses=...) wins
        response["content"] = {(PROBLEM_JSON if status and status >= 400 else JSON): {"schema": schema}}
    response.setdefault("description", http.HTTPStatus(status).phrase if status else "Any other status")
    if "headers" in response:
        response["headers"] = {name: _with_schema(header, drop=("name", "in"))
                               for name, header in response["headers"].items()}
    return response


def _with_schema(obj, drop=()):
    """A copy of a parameter or header object whose Swagger 2.0 schema keywords moved under `schema`."""
    obj = {key: value for key, value in obj.items() if key not in drop}
    if "schema" not in obj and "content" not in obj:
        obj["schema"] = {key: obj.pop(key) for key in SCHEMA_KEYWORDS if key in obj}
    return obj


def schema_parameter_keywords(_converter, field, **_kwargs):
    """Parameter keywords that a `use_kwargs` schema states for each of its fields in `Meta.openapi_parameters`:
    `{"allowEmptyValue": True}` for a query schema that takes an empty parameter as an absent one."""
    return dict(getattr(getattr(field.parent, "Meta", None), "openapi_parameters", {}))


def make_spec():
    """An empty OpenAPI 3.1 document: info, servers, tags, the bearer scheme."""
    marshmallow = MarshmallowPlugin()
    spec = APISpec(
        title=API_TITLE,
        version=API_VERSION,
        openapi_version=OPENAPI_VERSION,
        plugins=[marshmallow],
        info={"description": "User accounts, authentication and roles. Errors are RFC 9457 problem details "
                             "(`application/problem+json`)."},
        servers=[{"url": "/", "description": "This server"}],
    )
    marshmallow.converter.add_parameter_attribute_function(schema_parameter_keywords)
    spec.components.security_scheme("bearerAuth", BEARER_SCHEME)
    spec.components.security_scheme("oauth2", OAUTH2_SCHEME)
    for tag in TAGS:
        spec.tag(tag)
    return spec


class OpenApiDocs(FlaskApiSpec):
    """FlaskApiSpec with OpenApi31Converter, serving the document at APISPEC_SWAGGER_URL and LEGACY_DOCUMENT_URL
    and our Swagger UI 5 page (with its assets) at APISPEC_SWAGGER_UI_URL."""

    def init_app(self, app):
        super().init_app(app)
        self.resource_converter = OpenApi31Converter(app, self.spec, self.document_options)

    def add_swagger_routes(self):
        blueprint = flask.Blueprint("openapi", __name__)
        document_url = self.app.config["APISPEC_SWAGGER_URL"]
        blueprint.add_url_rule(document_url, "document", self.swagger_json)
        if document_url != LEGACY_DOCUMENT_URL:
            blueprint.add_url_rule(LEGACY_DOCUMENT_URL, "legacy-document", self.swagger_json)
        ui_url = self.app.config["APISPEC_SWAGGER_UI_URL"]
        blueprint.add_url_rule(ui_url, "swagger-ui", self.swagger_ui)
        blueprint.add_url_rule(f"{ui_url}<path:filename>", "swagger-ui-asset", swagger_ui_asset)
        self.app.register_blueprint(blueprint)

    def swagger_ui(self):
        page = flask.render_template("swagger-ui.html", swagger_ui_version=swagger_ui_version())
        return page, 200, {"Content-Security-Policy": SWAGGER_UI_CSP}


def swagger_ui_asset(filename):
    """A file of the Swagger UI distribution (scripts, styles, icons)."""
    return flask.send_from_directory(SWAGGER_UI_DIST, filename)


def swagger_ui_version():
    """The Swagger UI version flask-swagger-ui ships, e.g. "5.34.0"."""
    return (SWAGGER_UI_DIST / "VERSION").read_text().strip().lstrip("v")


def configure_openapi(app):
    """Set the flask-apispec configuration; call before the views run."""
    app.config["APISPEC_WEBARGS_PARSER"] = parser
    app.config["APISPEC_SPEC"] = make_spec()


def register_openapi(app, injector):
    """Document every resource. Call after the injector is created (app/injection.py): flask-apispec instantiates
    each resource, so its constructor arguments come from the injector."""
    docs = OpenApiDocs(app)  # per app: a module-level instance replays old registrations
    for blueprint, endpoint, resource in iter_resources():
        docs.register(resource, endpoint=endpoint, blueprint=blueprint,
                      resource_class_kwargs=injected_arguments(injector, resource.__init__))
    return docs
