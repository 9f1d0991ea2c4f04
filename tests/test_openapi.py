"""The OpenAPI document lists every route, and the Swagger UI page is served."""
import re

from app.dto.problem import ProblemSchema

IGNORED_ENDPOINTS = {"static", "flask-apispec.static", "flask-apispec.swagger-json", "flask-apispec.swagger-ui"}


def _flask_path(rule):
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)


def test_every_route_and_method_is_documented(app, client):
    spec = client.get("/swagger/").json
    assert spec["swagger"] == "2.0"
    for rule in app.url_map.iter_rules():
        if rule.endpoint in IGNORED_ENDPOINTS:
            continue
        path = _flask_path(rule)
        assert path in spec["paths"], path
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            operation = spec["paths"][path][method.lower()]
            assert operation.get("operationId"), (method, path)
            assert operation.get("summary"), (method, path)
            assert operation.get("description"), (method, path)


def test_bearer_operations_declare_security_and_401(client):
    spec = client.get("/swagger/").json
    assert spec["securityDefinitions"]["bearerAuth"]["in"] == "header"
    public = {("/api/v1/auth/register", "post"), ("/api/v1/auth/login", "post"), ("/api/v1/auth/refresh", "post"),
              ("/api/v1/auth/social/{provider}", "post"), ("/api/v1/auth/verify-email", "post"),
              ("/api/v1/auth/password-reset", "post"), ("/api/v1/auth/password-reset/confirm", "post"),
              ("/health", "get"), ("/ready", "get")}
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if (path, method) in public:
                assert "security" not in operation
                continue
            assert operation["security"] == [{"bearerAuth": []}], (method, path)
            assert "401" in operation["responses"], (method, path)


def test_problem_responses_use_the_problem_schema(client):
    spec = client.get("/swagger/").json
    assert set(spec["definitions"]["Problem"]["properties"]) == set(ProblemSchema().fields)
    not_found = spec["paths"]["/api/v1/users/{user_id}"]["get"]["responses"]["404"]
    assert not_found["schema"]["$ref"].endswith("/Problem")


def test_request_and_response_schemas_are_documented(client):
    spec = client.get("/swagger/").json
    register = spec["paths"]["/api/v1/auth/register"]["post"]
    body = next(p for p in register["parameters"] if p["in"] == "body")
    assert body["required"] is True
    assert register["responses"]["201"]["schema"]["$ref"].endswith("/UserPublic")
    assert "password" not in spec["definitions"]["UserPublic"]["properties"]


def test_swagger_ui_page_is_served(client):
    response = client.get("/swagger-ui/")
    assert response.content_type == "text/html"
    assert "swagger" in response.text.lower()
    assert "/swagger/" in response.text


def test_request_bodies_have_examples(client):
    spec = client.get("/swagger/").json
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                if parameter["in"] != "body":
                    continue
                definition = parameter["schema"]
                if "$ref" in definition:
                    definition = spec["definitions"][definition["$ref"].rsplit("/", 1)[1]]
                for name, field in definition["properties"].items():
                    assert "example" in field or field.get("type") == "boolean", (method, path, name)
