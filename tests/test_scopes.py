"""Scopes, table-driven over the served OpenAPI document (issue 15): every protected operation declares the scopes
it needs (`security`: `bearerAuth` and `oauth2`, with the same scopes), and enforces exactly those. For each one:

- a personal access token of an admin holding every grantable scope but the declared ones answers 403
  `insufficient_scope`, naming the declared scopes in `WWW-Authenticate` (RFC 6750 3.1) and in the problem;
- a token holding just the declared scopes (a personal access token, or a sign-in session for `credentials`, which
  no token may hold) gets past the scope check: any answer but that 403, a 401 for its token, or a 5xx.

Requests carry the documented examples of the required body fields, so the body is parsed as a client's would be.
"""
import datetime as dt
import json

import pytest

from app import create_app
from app.configs import TestConfig
from app.entities.scope import GRANTABLE, Scope
from tests.support import ApiClient

PUBLIC_OK = {"health", "ready"}


def _document():
    return ApiClient(create_app(TestConfig(database_url="sqlite://"))).get("/openapi.json").json


DOCUMENT = _document()
OPERATIONS = [(path, method, operation) for path, item in sorted(DOCUMENT["paths"].items())
              for method, operation in sorted(item.items()) if method in ("get", "post", "put", "patch", "delete")]
PROTECTED = [(path, method, op) for path, method, op in OPERATIONS if op["security"]]


def declared(operation):
    """The scopes an operation declares, checking both schemes say the same."""
    by_scheme = {name: frozenset(scopes) for requirement in operation["security"]
                 for name, scopes in requirement.items()}
    assert set(by_scheme) == {"bearerAuth", "oauth2"}, operation["operationId"]
    assert by_scheme["bearerAuth"] == by_scheme["oauth2"], operation["operationId"]
    return by_scheme["oauth2"]


def test_every_operation_is_public_or_declares_known_scopes():
    known = set(DOCUMENT["components"]["securitySchemes"]["oauth2"]["flows"]["clientCredentials"]["scopes"])
    assert known == {str(scope) for scope in Scope}
    assert len(PROTECTED) > 20
    for _path, _method, operation in PROTECTED:
        scopes = declared(operation)
        assert scopes, operation["operationId"]
        assert scopes <= known, operation["operationId"]
        assert "403" in operation["responses"], operation["operationId"]


def _body(operation):
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" not in content:
        return None
    schema = content["application/json"]["schema"]
    if "$ref" in schema:
        schema = DOCUMENT["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return {name: schema["properties"][name].get("example") for name in schema.get("required", [])}


def _pat(client, headers, scopes):
    expires = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    return client.post_json("/api/v1/users/me/tokens", {"name": "scope test", "scopes": sorted(scopes),
                                                        "expires_at": expires}, headers=headers).json["token"]


def _call(client, path, method, operation, token, target_id):
    path = path.replace("{user_id}", str(target_id))
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "path" and parameter["name"] != "user_id":
            path = path.replace("{" + parameter["name"] + "}", "1")
    body = _body(operation)
    headers = {"Authorization": f"Bearer {token}"}
    if body is None:
        return client._gen_request(method.upper(), path, headers=headers, expect_errors=True)
    return client._gen_request(method.upper(), path, params=json.dumps(body), headers=headers,
                               content_type="application/json", expect_errors=True)


def _is_scope_refusal(response):
    return response.status_int == 403 and 'error="insufficient_scope"' in response.headers.get("WWW-Authenticate", "")


@pytest.mark.parametrize(("path", "method", "operation"), PROTECTED, ids=[op["operationId"] for *_, op in PROTECTED])
def test_the_declared_scopes_are_enforced(client, auth, users, path, method, operation):
    scopes = declared(operation)
    admin, session = auth.admin()
    target = users.create()
    lacking = _pat(client, session, GRANTABLE - scopes)
    refused = _call(client, path, method, operation, lacking, target.id)
    assert _is_scope_refusal(refused), (refused.status, refused.headers.get("WWW-Authenticate"), refused.text[:300])
    assert f'scope="{" ".join(sorted(scopes))}"' in refused.headers["WWW-Authenticate"]
    assert refused.json["scope"] == " ".join(sorted(scopes))

    holding = session["Authorization"].split()[1] if scopes - GRANTABLE else _pat(client, session, scopes)
    answered = _call(client, path, method, operation, holding, target.id)
    assert not _is_scope_refusal(answered), answered.text[:300]
    assert answered.status_int < 500, answered.text[:300]
    assert 'error="invalid_token"' not in answered.headers.get("WWW-Authenticate", ""), answered.text[:300]
