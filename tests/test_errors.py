"""Every error is an RFC 9457 problem: Werkzeug's, webargs', Flask-HTTPAuth's, the database's and our own bugs'."""
import json
import logging

import pytest
from webtest import TestRequest

from app import create_app
from app.configs import TestConfig
from app.services.users import UserService
from tests.support import DEFAULT_PASSWORD, ApiClient

PROBLEM_KEYS = {"type", "title", "status", "detail"}


def assert_problem(response, status):
    assert response.status_int == status
    assert response.content_type == "application/problem+json"
    assert set(response.json) >= PROBLEM_KEYS
    assert response.json["status"] == status


def test_malformed_json_is_400(client):
    response = client.post("/api/v1/auth/register", "{not json", content_type="application/json", status=400)
    assert_problem(response, 400)
    assert response.json["errors"] == {"_body": ["Invalid JSON body: Expecting property name enclosed in double quotes "
                                                 "at line 1 column 2."]}


def test_an_empty_body_is_a_missing_body_not_invalid_json(client):
    response = client.post("/api/v1/auth/register", "", content_type="application/json", status=400)
    assert set(response.json["errors"]) == {"email", "name", "password"}


def test_unknown_fields_are_rejected(client, users):
    response = client.post_json("/api/v1/auth/register", {"email": "a@example.com", "name": "A",
                                                          "password": DEFAULT_PASSWORD, "admin": True}, status=400)
    assert_problem(response, 400)
    assert response.json["errors"] == {"admin": ["Unknown field."]}
    assert users.count() == 0


def test_json_that_is_not_an_object_is_400(client):
    assert_problem(client.post_json("/api/v1/auth/login", ["a", "b"], status=400), 400)


def test_body_that_is_not_json_is_415(client):
    response = client.post("/api/v1/auth/login", "email=a&password=b",
                           content_type="application/x-www-form-urlencoded", status=415)
    assert_problem(response, 415)


def test_body_over_max_content_length_is_413(client, app, users):
    big = {"email": "a@example.com", "name": "A", "password": "x" * app.config["MAX_CONTENT_LENGTH"]}
    assert_problem(client.post_json("/api/v1/auth/register", big, status=413), 413)
    assert users.count() == 0


def _chunked(path, body):
    """A POST as gunicorn hands on a Transfer-Encoding: chunked body: no Content-Length, a terminated stream."""
    request = TestRequest.blank(path, method="POST", body=body, content_type="application/json")
    del request.environ["CONTENT_LENGTH"]
    request.environ.update({"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input_terminated": True})
    return request


def test_a_chunked_body_over_max_content_length_is_413_not_cut_short(client, app, users):
    """Werkzeug's limited stream gave the first MAX_CONTENT_LENGTH bytes of such a body: a JSON body padded past the
    limit with spaces parsed, and the account was created."""
    body = json.dumps({"email": "a@example.com", "name": "A", "password": DEFAULT_PASSWORD}).encode()
    limit = app.config["MAX_CONTENT_LENGTH"]
    assert_problem(client.do_request(_chunked("/api/v1/auth/register", body.ljust(limit + 1)), status=413), 413)
    assert users.count() == 0
    client.do_request(_chunked("/api/v1/auth/register", body.ljust(limit)), status=201)


def test_unknown_route_is_404_problem(client):
    assert_problem(client.get("/api/v1/nothing-here", status=404), 404)


def test_wrong_method_is_405_with_allow(client):
    response = client.delete("/api/v1/auth/login", status=405)
    assert_problem(response, 405)
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"POST"}


def test_403_is_a_problem(client, auth):
    user, headers = auth.user()
    assert_problem(client.post_json("/api/v1/users", {"email": "x@example.com", "name": "X"}, headers=headers,
                                    status=403), 403)


def test_401_is_a_problem(client):
    assert_problem(client.get("/api/v1/users", status=401), 401)


class ExplodingUsers(UserService):
    def get(self, user_id):
        raise RuntimeError("secret internal detail")


def test_a_bug_is_a_500_that_tells_nothing_and_logs_the_traceback(make_app, auth, caplog):
    app = make_app(injector_modules=[lambda binder: binder.bind(UserService, to=ExplodingUsers)])
    client = ApiClient(app)
    user, headers = auth.user()
    with caplog.at_level(logging.ERROR):
        response = client.get(f"/api/v1/users/{user.id}", headers=headers, status=500)
    assert_problem(response, 500)
    assert "secret internal detail" not in response.text
    assert "secret internal detail" in caplog.text
    assert "Traceback" in caplog.text


@pytest.fixture(params=["sqlite", "mysql"])
def unreachable_app(request, tmp_path):
    """An app whose database cannot be reached: a SQLite file in a missing folder, or MySQL on a closed port."""
    url = {"sqlite": f"sqlite:///{tmp_path}/missing/dir/db.sqlite",
           "mysql": "mysql+mysqlconnector://nobody:nothing@127.0.0.1:9/none"}[request.param]
    return create_app(TestConfig(database_url=url))


def test_database_unreachable_is_503(unreachable_app):
    client = ApiClient(unreachable_app)
    assert_problem(client.get("/ready", status=503), 503)
    response = client.post_json("/api/v1/auth/login", {"email": "a@example.com", "password": "whatever1"},
                                status=503)
    assert_problem(response, 503)
    assert "Retry-After" in response.headers
    token = "Bearer " + "x" * 40
    assert_problem(client.get("/api/v1/users/me", headers={"Authorization": token}, status=401), 401)


def test_health_does_not_touch_the_database(unreachable_app):
    assert ApiClient(unreachable_app).get("/health").json == {"status": "ok"}


def test_ready_when_the_database_answers(client):
    assert client.get("/ready").json == {"status": "ok"}
