"""The OpenAPI 3.1 document: the flask-apispec -> OpenAPI 3.1 bridge (app/openapi.py) on its own, then the served
document: complete (every route), valid (openapi-spec-validator, `redocly lint`), and saying what the API does
(security, required output fields, nullables, media types, headers, examples). Swagger UI 5 is served offline."""
import json
import os
import pathlib
import re
import shutil
import subprocess

import flask
import pytest
from flask_apispec import MethodResource, doc, marshal_with, use_kwargs
from flask_apispec.apidoc import ResourceConverter
from jsonschema import Draft202012Validator
from marshmallow import Schema, fields
from openapi_spec_validator import OpenAPIV31SpecValidator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from app.dto.problem import ProblemSchema
from app.openapi import SWAGGER_UI_CSP, OpenApi31Converter, make_spec, swagger_ui_version

ROOT = pathlib.Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
DOCUMENT_ENDPOINTS = {"static", "openapi.document", "openapi.legacy-document", "openapi.swagger-ui",
                      "openapi.swagger-ui-asset"}
PUBLIC = {("/api/v1/auth/register", "post"), ("/api/v1/auth/login", "post"), ("/api/v1/auth/refresh", "post"),
          ("/api/v1/auth/social/{provider}", "post"), ("/api/v1/auth/verify-email", "post"),
          ("/api/v1/auth/password-reset", "post"), ("/api/v1/auth/password-reset/confirm", "post"),
          ("/health", "get"), ("/ready", "get"),
          # OAuth 2.0 for public clients (app/controllers/oauth.py): the refresh token in the form is the credential
          ("/api/v1/oauth/token", "post"), ("/api/v1/oauth/revoke", "post"),
          ("/.well-known/oauth-authorization-server", "get"),
          # The second step of a sign-in and passkey sign-in: the MFA token or the passkey assertion is the credential
          ("/api/v1/auth/mfa", "post"), ("/api/v1/auth/mfa/passkey/options", "post"),
          ("/api/v1/auth/mfa/passkey", "post"),
          ("/api/v1/auth/passkey/options", "post"), ("/api/v1/auth/passkey", "post")}
# Problem schemas: the generic one, and those that state the extension members of one kind of problem.
PROBLEM_SCHEMAS = ("/Problem", "/MfaRequiredProblem")
# Error responses that are not problem documents: the OAuth endpoints answer RFC 6749 5.2 errors (application/json).
NOT_PROBLEMS = {("/api/v1/oauth/token", "400"), ("/api/v1/oauth/token", "401"), ("/api/v1/oauth/token", "429"),
                ("/api/v1/oauth/revoke", "400"), ("/api/v1/oauth/revoke", "429")}
# Output fields the server does not always send, and why.
OPTIONAL_OUTPUT_FIELDS = {
    ("UserList", "total"): "only with include_total=true",
    ("Problem", "errors"): "only on validation problems",
    ("OAuthTokenResponse", "refresh_token"): "refresh_token grant only (RFC 6749 4.4.3: none for client credentials)",
    ("OAuthTokenResponse", "scope"): "client_credentials grant only",
}
REDOCLY_CLI = "2.77.0"  # @redocly/cli, installed under test-artifacts/node by the lint test
# The warnings `redocly lint --extends recommended` still gives, and why they stay (printed by the test).
REDOCLY_WARNINGS = {
    "info-license": "the project has no license to name: its owner chooses one, the document does not invent it",
    "operation-4xx-response": "/health, /ready and the RFC 8414 metadata never answer 4xx (their only failure is "
                              "a 503 or a 500)",
}


# --- The bridge on its own: a small app using each annotation and location ------------------------------------

class Item(Schema):
    id = fields.Integer(required=True)
    note = fields.String(allow_none=True, required=True)


class ItemCreate(Schema):
    name = fields.String(required=True, metadata={"description": "A name"})
    size = fields.Integer()


class ItemQuery(Schema):
    class Meta:
        openapi_parameters = {"allowEmptyValue": True}

    cursor = fields.String(load_default=None)
    limit = fields.Integer(load_default=10)


class TokenForm(Schema):
    grant_type = fields.String(required=True)
    scope = fields.String()


class Trace(Schema):
    trace = fields.String(data_key="X-Trace", required=True)


class Problem(Schema):
    title = fields.String(required=True)


class Items(MethodResource):
    @doc(operationId="createItem", params={"If-Match": {"in": "header", "type": "string", "required": False}},
         responses={201: {"description": "Created", "headers": {"Location": {"type": "string"}}}})
    @use_kwargs(ItemCreate(), location="json", required=True)
    @marshal_with(Item(), code=201)
    @marshal_with(Problem(), code=400, description="Invalid")
    def post(self, **kwargs):
        raise NotImplementedError

    @doc(operationId="listItems")
    @use_kwargs(ItemQuery(), location="query")
    @use_kwargs(Trace(), location="headers")
    @marshal_with(Item(many=True), code=200)
    def get(self, **kwargs):
        raise NotImplementedError


class ItemResource(MethodResource):
    @doc(operationId="deleteItem", responses={204: {"description": "Deleted"}})
    @marshal_with(None, code=204)
    @marshal_with(Problem(), code=404)
    def delete(self, item_id):
        raise NotImplementedError


class Token(MethodResource):
    @doc(operationId="token")
    @use_kwargs(TokenForm(), location="form")
    @marshal_with(Item(), code=200, description="A token")
    def post(self, **kwargs):
        raise NotImplementedError


def _toy_app():
    app = flask.Flask(__name__)
    app.add_url_rule("/items", view_func=Items.as_view("items"))
    app.add_url_rule("/items/<int(max=9223372036854775807):item_id>", view_func=ItemResource.as_view("item"))
    app.add_url_rule("/token", view_func=Token.as_view("token"))
    return app


def _operations(converter_class, spec=None):
    """{operationId: operation} as `converter_class` shapes them for the toy app (before apispec resolves them)."""
    app = _toy_app()
    spec = spec or make_spec()
    converter = converter_class(app, spec)
    operations = {}
    for resource, endpoint in ((Items, "items"), (ItemResource, "item"), (Token, "token")):
        for path in converter.convert(resource, endpoint):
            operations.update({op["operationId"]: op for op in path["operations"].values()})
            spec.path(**path)
    return operations, spec.to_dict()


def test_flask_apispec_still_gives_the_swagger_2_shapes_the_bridge_converts():
    """flask-apispec's own output, which OpenApi31Converter rewrites: if this fails after an upgrade, the shapes
    moved (perhaps flask-apispec emits OpenAPI 3 itself now): revisit app/openapi.py and docs/decisions/0001."""
    operations, _ = _operations(ResourceConverter)
    create = operations["createItem"]
    body = next(p for p in create["parameters"] if p["in"] == "body")
    assert body["required"] is True
    assert body["schema"] == {"$ref": "#/components/schemas/ItemCreate"}
    assert isinstance(create["responses"][201]["schema"], Item)
    assert create["responses"][201]["description"] == ""  # @marshal_with's default, which hides @doc's
    assert {p["name"] for p in operations["token"]["parameters"] if p["in"] == "formData"} == {"grant_type", "scope"}
    path = next(p for p in operations["deleteItem"]["parameters"] if p["in"] == "path")
    assert (path["type"], path["format"]) == ("integer", "int32")
    assert "schema" not in path
    header = next(p for p in create["parameters"] if p["in"] == "header")
    assert header["type"] == "string"
    assert "schema" not in header


def test_bridge_turns_a_json_body_into_a_request_body():
    operations, document = _operations(OpenApi31Converter)
    create = document["paths"]["/items"]["post"]
    assert create["requestBody"] == {"required": True, "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/ItemCreate"}}}}
    assert all(p["in"] != "body" for p in create.get("parameters", []))
    assert operations["createItem"]["parameters"] == [
        {"in": "header", "name": "If-Match", "required": False, "schema": {"type": "string"}}]


def test_bridge_turns_form_fields_into_a_urlencoded_request_body():
    _, document = _operations(OpenApi31Converter)
    token = document["paths"]["/token"]["post"]
    assert "parameters" not in token
    schema = token["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    assert token["requestBody"]["required"] is True
    assert schema["type"] == "object"
    assert schema["required"] == ["grant_type"]
    assert schema["properties"] == {"grant_type": {"type": "string"}, "scope": {"type": "string"}}


def test_bridge_keeps_query_and_header_parameters_without_null():
    _, document = _operations(OpenApi31Converter)
    parameters = {(p["in"], p["name"]): p for p in document["paths"]["/items"]["get"]["parameters"]}
    assert set(parameters) == {("query", "cursor"), ("query", "limit"), ("header", "X-Trace")}
    assert parameters["query", "cursor"]["schema"] == {"type": "string"}  # no `null`, no `default: null`
    assert parameters["query", "limit"]["schema"] == {"type": "integer", "default": 10}
    assert parameters["query", "limit"]["allowEmptyValue"] is True  # from the schema's Meta.openapi_parameters
    assert parameters["header", "X-Trace"]["required"] is True
    assert "allowEmptyValue" not in parameters["header", "X-Trace"]


def test_bridge_gives_path_parameters_the_route_converter_bounds():
    _, document = _operations(OpenApi31Converter)
    (item_id,) = document["paths"]["/items/{item_id}"]["delete"]["parameters"]
    assert item_id["required"] is True
    assert item_id["schema"] == {"type": "integer", "format": "int64", "minimum": 0, "maximum": 2**63 - 1}


def test_bridge_gives_each_response_its_content_type_and_headers():
    _, document = _operations(OpenApi31Converter)
    create = document["paths"]["/items"]["post"]["responses"]
    assert create["201"] == {"description": "Created",
                             "headers": {"Location": {"schema": {"type": "string"}}},
                             "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Item"}}}}
    assert create["400"]["content"] == {"application/problem+json": {
        "schema": {"$ref": "#/components/schemas/Problem"}}}
    delete = document["paths"]["/items/{item_id}"]["delete"]["responses"]
    assert delete["204"] == {"description": "Deleted"}  # no content, so no media type
    assert delete["404"]["description"] == "Not Found"  # no description given: the reason phrase
    listing = document["paths"]["/items"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert listing == {"type": "array", "items": {"$ref": "#/components/schemas/Item"}}


def test_bridge_output_is_valid_openapi_3_1_with_nullables_as_type_unions():
    _, document = _operations(OpenApi31Converter)
    assert list(OpenAPIV31SpecValidator(document).iter_errors()) == []
    assert document["components"]["schemas"]["Item"]["properties"]["note"]["type"] == ["string", "null"]


# --- The served document -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def spec(app):
    return app.test_client().get("/openapi.json").get_json()


def _flask_path(rule):
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)


def _operations_of(spec):
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            yield path, method, operation


def _responses_of(spec):
    for path, method, operation in _operations_of(spec):
        for code, response in operation["responses"].items():
            yield (method, path, code), operation, response


def test_every_route_and_method_is_documented(app, spec):
    assert spec["openapi"] == "3.1.0"
    for rule in app.url_map.iter_rules():
        if rule.endpoint in DOCUMENT_ENDPOINTS:
            continue
        path = _flask_path(rule)
        assert path in spec["paths"], path
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            operation = spec["paths"][path][method.lower()]
            assert operation.get("operationId"), (method, path)
            assert operation.get("summary"), (method, path)
            assert operation.get("description"), (method, path)


def test_document_is_served_at_openapi_json_and_at_the_old_address(client, spec):
    assert client.get("/openapi.json").content_type == "application/json"
    assert client.get("/swagger/").json == spec
    assert spec["servers"] == [{"url": "/", "description": "This server"}]


def test_openapi_spec_validator_finds_no_errors(spec):
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
              for e in OpenAPIV31SpecValidator(spec).iter_errors()]
    assert errors == []


def _redocly():
    """The pinned @redocly/cli under test-artifacts/node (npm installs it there once; no global install)."""
    prefix = ARTIFACTS / "node"
    binary = prefix / "node_modules" / ".bin" / "redocly"
    package = prefix / "node_modules" / "@redocly" / "cli" / "package.json"
    if not (binary.exists() and json.loads(package.read_text())["version"] == REDOCLY_CLI):
        prefix.mkdir(parents=True, exist_ok=True)
        subprocess.run(  # noqa: S603 (a fixed command line)
            [shutil.which("npm"), "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "--loglevel=error",
             f"@redocly/cli@{REDOCLY_CLI}"], check=True, timeout=600, cwd=prefix)
    return binary


@pytest.mark.skipif(not (shutil.which("node") and shutil.which("npm")), reason="no Node.js/npm here to run redocly")
def test_redocly_lint_recommended_finds_no_errors(spec, tmp_path):
    document = tmp_path / "openapi.json"
    document.write_text(json.dumps(spec))
    env = {**os.environ, "REDOCLY_TELEMETRY": "off", "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true"}
    result = subprocess.run(  # noqa: S603 (a fixed command line)
        [str(_redocly()), "lint", "--extends", "recommended", "--format", "json", str(document)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    report = json.loads(result.stdout[result.stdout.index("{"):])
    problems = [(p["severity"], p["ruleId"], p["location"][0]["pointer"], p["message"]) for p in report["problems"]]
    for severity, rule, pointer, message in problems:
        print(f"redocly {severity}: {rule} at {pointer}: {message} ({REDOCLY_WARNINGS.get(rule, 'new')})")
    assert [p for p in problems if p[0] == "error"] == []
    assert report["totals"]["errors"] == 0, result.stdout


def test_bearer_is_an_http_scheme_and_every_operation_states_its_security_and_scopes(spec):
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        **spec["components"]["securitySchemes"]["bearerAuth"], "type": "http", "scheme": "bearer"}
    for path, method, operation in _operations_of(spec):
        assert "security" in operation, (method, path)  # stated, never inherited by omission
        if (path, method) in PUBLIC:
            assert operation["security"] == [], (method, path)
            continue
        scopes = operation["security"][0].get("bearerAuth")
        assert scopes, (method, path)
        assert operation["security"] == [{"bearerAuth": scopes}, {"oauth2": scopes}], (method, path)
        assert {"401", "403"} <= set(operation["responses"]), (method, path)
    # the scopes are those of the oauth2 scheme (tests/test_scopes.py checks each operation enforces its own)
    flows = spec["components"]["securitySchemes"]["oauth2"]["flows"]
    assert set(flows["clientCredentials"]["scopes"]) >= {"profile:read", "profile:write", "users:read",
                                                          "users:write", "admin"}


def test_responses_carry_content_of_their_own_media_type(spec):
    for where, _operation, response in _responses_of(spec):
        code = int(where[2])
        if code in (204, 304):
            assert "content" not in response, where
        elif (where[1], where[2]) in NOT_PROBLEMS:
            assert set(response["content"]) == {"application/json"}, where
        elif code >= 400:
            assert set(response["content"]) == {"application/problem+json"}, where
            assert response["content"]["application/problem+json"]["schema"]["$ref"].endswith(PROBLEM_SCHEMAS), where
        else:  # a 2xx without content is one without a body (RFC 7009's 200, for one)
            assert set(response.get("content", {"application/json": None})) == {"application/json"}, where


def test_headers_are_documented_where_they_are_sent(spec):
    for (method, path, code), operation, response in _responses_of(spec):
        headers = response.get("headers", {})
        for name, header in headers.items():
            assert header["schema"]["type"] == "string", (method, path, code, name)
        required = {name for name, header in headers.items() if header.get("required")}
        if code == "201":
            assert "Location" in required, (method, path)
        if code == "401":
            assert "WWW-Authenticate" in required, (method, path)
        if code in ("429", "503"):
            assert "Retry-After" in required, (method, path, code)
        if code in ("200", "304") and operation["operationId"] in ("getMe", "getUser", "updateMe", "updateUser"):
            assert "ETag" in required, (method, path, code)
        if code == "200" and operation["operationId"] in ("listUsers", "listAuditEvents"):
            assert "Link" in headers, (method, path)
            assert "Link" not in required, (method, path)  # only when there is a next page


def _output_schemas(spec):
    """Names of the component schemas that responses use, directly or nested."""
    schemas, names = spec["components"]["schemas"], set()

    def visit(node):
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] not in names:
                names.add(ref.rsplit("/", 1)[1])
                visit(schemas[ref.rsplit("/", 1)[1]])
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    for _where, _operation, response in _responses_of(spec):
        visit(response.get("content", {}))
    return names


def test_output_fields_the_server_always_sends_are_required(spec):
    schemas = spec["components"]["schemas"]
    for name in _output_schemas(spec):
        optional = set(schemas[name]["properties"]) - set(schemas[name].get("required", []))
        assert optional == {field for schema, field in OPTIONAL_OUTPUT_FIELDS if schema == name}, name


def test_nullables_are_type_unions(spec):
    schemas = spec["components"]["schemas"]
    assert schemas["UserList"]["properties"]["next_cursor"]["type"] == ["string", "null"]
    assert schemas["AuditEventPublic"]["properties"]["actor_id"]["type"] == ["integer", "null"]
    assert "nullable" not in json.dumps(spec)  # neither OpenAPI 3.0's `nullable` nor Swagger's `x-nullable`


def test_problem_schema_is_open_to_extension_members(spec):
    problem = spec["components"]["schemas"]["Problem"]
    assert set(problem["properties"]) == set(ProblemSchema().fields)
    assert problem.get("additionalProperties", True) is True
    assert set(problem["required"]) == {"type", "title", "status", "detail"}


def test_probes_document_their_answer(spec):
    for path in ("/health", "/ready"):
        schema = spec["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert schema["$ref"].endswith("/HealthStatus")
    assert spec["components"]["schemas"]["HealthStatus"]["required"] == ["status"]


def test_examples_are_valid_against_their_schemas(spec):
    registry = Registry().with_resource("urn:openapi", Resource.from_contents(spec, DRAFT202012))
    checked = 0
    for name, schema in spec["components"]["schemas"].items():
        for field, prop in schema["properties"].items():
            if "example" in prop:
                pointer = f"urn:openapi#/components/schemas/{name}/properties/{field}"
                Draft202012Validator({"$ref": pointer}, registry=registry).validate(prop["example"])
                checked += 1
    assert checked > 20


def test_request_and_response_schemas_are_documented(spec):
    register = spec["paths"]["/api/v1/auth/register"]["post"]
    assert register["requestBody"]["required"] is True
    assert register["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/RegisterRequest")
    created = register["responses"]["201"]["content"]["application/json"]["schema"]
    assert created["$ref"].endswith("/UserPublic")
    assert "password" not in spec["components"]["schemas"]["UserPublic"]["properties"]


def test_request_bodies_have_examples(spec):
    for path, method, operation in _operations_of(spec):
        for content in operation.get("requestBody", {}).get("content", {}).values():
            definition = content["schema"]
            if "$ref" in definition:
                definition = spec["components"]["schemas"][definition["$ref"].rsplit("/", 1)[1]]
            for name, field in definition["properties"].items():
                assert "example" in field or field.get("type") == "boolean", (method, path, name)


def test_swagger_ui_5_is_served_from_the_app(client):
    page = client.get("/swagger-ui/")
    assert page.content_type == "text/html"
    assert page.headers["Content-Security-Policy"] == SWAGGER_UI_CSP
    assert "unsafe" not in SWAGGER_UI_CSP
    assert swagger_ui_version().startswith("5.")
    assert f'content="{swagger_ui_version()}"' in page.text
    assert 'data-spec-url="/openapi.json"' in page.text
    for asset in re.findall(r'(?:src|href)="(/swagger-ui/[^"]+)"', page.text):
        assert client.get(asset).status_int == 200, asset
    assert "http" not in "".join(re.findall(r'(?:src|href)="([^"]+)"', page.text))  # nothing from elsewhere


def test_path_parameters_come_in_the_order_the_path_names_them(spec):
    # generated clients take them as positional arguments: a set's order would change from run to run
    for path, _method, operation in _operations_of(spec):
        named = [p["name"] for p in operation.get("parameters", []) if p["in"] == "path"]
        assert named == re.findall(r"\{(\w+)\}", path), path
