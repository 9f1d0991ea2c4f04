"""HTTP details clients rely on: conditional requests, CORS, security headers, OPTIONS and HEAD."""
import pytest

from tests.support import ApiClient


def test_get_has_an_etag_and_if_none_match_answers_304(client, auth, users):
    user, headers = auth.user()
    for path in ("/api/v1/users/me", f"/api/v1/users/{user.id}"):
        response = client.get(path, headers=headers)
        etag = response.headers["ETag"]
        assert etag.startswith('"')
        assert response.headers["Cache-Control"] == "private, no-cache"
        for method in (client.get, client.head):
            not_modified = method(path, headers={**headers, "If-None-Match": etag}, status=304)
            assert not_modified.body == b""
            assert "Content-Type" not in not_modified.headers  # no content, so no media type (RFC 9110 15.4.5)
            assert "Content-Length" not in not_modified.headers
            assert not_modified.headers["ETag"] == etag
            assert not_modified.headers["Cache-Control"] == "private, no-cache"
        client.get(path, headers={**headers, "If-None-Match": f'W/{etag}, "other"'}, status=304)  # weak comparison
        client.get(path, headers={**headers, "If-None-Match": "*"}, status=304)
        client.get(path, headers={**headers, "If-None-Match": '"something-else"'}, status=200)


@pytest.mark.parametrize("path", ["/api/v1/users/me", "/api/v1/users/{id}", "/static/swagger-init.js",
                                  "/swagger-ui/swagger-ui.css"])
def test_a_304_response_has_no_content_before_it_is_written_out(app, client, auth, path):
    """The response object every after_request hook, middleware and in-process observer sees carries no body and no
    Content-Type, like no_content()'s 204: not only what werkzeug happens to write out for a 304."""
    user, headers = auth.user()
    path = path.format(id=user.id)
    etag = client.get(path, headers=headers).headers["ETag"]
    with app.test_request_context(path, headers={**headers, "If-None-Match": etag}):
        response = app.full_dispatch_request()
        assert response.status_code == 304
        assert "Content-Type" not in response.headers
        assert "Content-Length" not in response.headers
        assert b"".join(response.response) == b""
        response.close()


def test_etag_changes_when_the_user_changes(client, auth):
    user, headers = auth.user()
    before = client.get("/api/v1/users/me", headers=headers).headers["ETag"]
    patched = client.patch_json("/api/v1/users/me", {"name": "Changed"}, headers=headers)
    assert patched.headers["ETag"] != before
    assert client.get("/api/v1/users/me", headers=headers).headers["ETag"] == patched.headers["ETag"]
    client.get("/api/v1/users/me", headers={**headers, "If-None-Match": before}, status=200)


def test_etag_changes_when_only_the_roles_change_and_not_when_nothing_does(client, auth, users):
    """`updated_at`, which the ETag follows, moves with any change to the user, its role grants included (rows of
    another table, which a column's onupdate would miss), and stays when a write changes nothing."""
    admin, headers = auth.admin()
    target = users.create(name="Same")
    path = f"/api/v1/users/{target.id}"
    before = client.get(path, headers=headers).headers["ETag"]
    unchanged = client.patch_json(path, {"name": "Same", "roles": ["user"]}, headers=headers).headers["ETag"]
    assert unchanged == before
    promoted = client.patch_json(path, {"roles": ["user", "admin"]}, headers=headers).headers["ETag"]
    assert promoted != before
    assert client.get(path, headers=headers).headers["ETag"] == promoted


def test_if_match_guards_patch_and_delete(client, auth, users):
    admin, headers = auth.admin()
    target = users.create(name="Original")
    path = f"/api/v1/users/{target.id}"
    current = client.get(path, headers=headers).headers["ETag"]
    client.patch_json(path, {"name": "First"}, headers={**headers, "If-Match": current})
    response = client.patch_json(path, {"name": "Lost update"}, headers={**headers, "If-Match": current}, status=412)
    assert response.content_type == "application/problem+json"
    assert users.get(target.id).name == "First"
    client.delete(path, headers={**headers, "If-Match": current}, status=412)
    client.patch_json(path, {"name": "Weak"}, headers={**headers, "If-Match": "W/" + current}, status=412)
    client.delete(path, headers={**headers, "If-Match": "*"}, status=204)


def test_if_match_guards_patch_me(client, auth):
    user, headers = auth.user()
    etag = client.get("/api/v1/users/me", headers=headers).headers["ETag"]
    client.patch_json("/api/v1/users/me", {"name": "A"}, headers={**headers, "If-Match": etag})
    client.patch_json("/api/v1/users/me", {"name": "B"}, headers={**headers, "If-Match": etag}, status=412)


def test_if_match_can_be_required(make_app, auth, users):
    client = ApiClient(make_app(REQUIRE_IF_MATCH=True))
    admin, headers = auth.admin()
    target = users.create()
    path = f"/api/v1/users/{target.id}"
    assert client.patch_json(path, {"name": "x"}, headers=headers, status=428).content_type == \
        "application/problem+json"
    client.delete(path, headers=headers, status=428)
    etag = client.get(path, headers=headers).headers["ETag"]
    client.patch_json(path, {"name": "x"}, headers={**headers, "If-Match": etag}, status=200)


def test_security_headers_on_json_and_on_the_swagger_page(client):
    for response in (client.get("/health"), client.get("/nowhere", status=404)):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
        assert response.headers["Referrer-Policy"] == "no-referrer"
    page = client.get("/swagger-ui/")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert "<script>" not in page.text  # no inline script: the CSP forbids it
    assert client.get("/static/swagger-init.js").status_int == 200


def test_token_and_api_responses_are_not_stored(client, users):
    user = users.create()
    token = client.post_json("/api/v1/auth/login", {"email": user.email, "password": user.password})
    assert token.headers["Cache-Control"] == "no-store"
    assert client.get("/api/v1/users", status=401).headers["Cache-Control"] == "no-store"


@pytest.fixture
def cors_client(make_app):
    return ApiClient(make_app(CORS_ORIGINS=["https://app.example.com"]))


def test_cors_allows_only_listed_origins_without_credentials(cors_client, auth):
    user, headers = auth.user()
    allowed = cors_client.get("/api/v1/users/me", headers={**headers, "Origin": "https://app.example.com"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "Access-Control-Allow-Credentials" not in allowed.headers
    assert "ETag" in allowed.headers["Access-Control-Expose-Headers"]
    other = cors_client.get("/api/v1/users/me", headers={**headers, "Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    preflight = cors_client.options("/api/v1/users/me", headers={
        "Origin": "https://app.example.com", "Access-Control-Request-Method": "PATCH",
        "Access-Control-Request-Headers": "authorization, content-type, if-match"})
    assert preflight.status_int == 200
    assert "PATCH" in preflight.headers["Access-Control-Allow-Methods"]
    assert "if-match" in preflight.headers["Access-Control-Allow-Headers"].lower()


def test_no_cors_headers_by_default(client):
    response = client.get("/health", headers={"Origin": "https://app.example.com"})
    assert "Access-Control-Allow-Origin" not in response.headers


def test_options_lists_the_allowed_methods_without_authentication(client):
    response = client.options("/api/v1/users/1")
    assert response.status_int == 200
    assert set(response.headers["Allow"].replace(" ", "").split(",")) == {"GET", "HEAD", "PATCH", "DELETE", "OPTIONS"}


def test_head_is_get_without_a_body(client, auth):
    user, headers = auth.user()
    get = client.get("/api/v1/users/me", headers=headers)
    head = client.head("/api/v1/users/me", headers=headers)
    assert head.status_int == 200
    assert head.body == b""
    assert head.headers["ETag"] == get.headers["ETag"]
    assert int(head.headers["Content-Length"]) == len(get.body)
