"""The caller's own account: GET and PATCH /api/v1/users/me."""
from tests.support import DEFAULT_PASSWORD


def test_me_returns_the_caller(client, auth):
    user, headers = auth.user()
    body = client.get("/api/v1/users/me", headers=headers).json
    assert body["id"] == user.id
    assert body["email"] == user.email


def test_change_name(client, auth):
    user, headers = auth.user()
    before = client.get("/api/v1/users/me", headers=headers).json
    body = client.patch_json("/api/v1/users/me", {"name": "New Name"}, headers=headers).json
    assert body["name"] == "New Name"
    assert body["updated_at"] > before["updated_at"]


def test_change_password_needs_the_current_password(client, auth, users):
    user, headers = auth.user()
    missing = client.patch_json("/api/v1/users/me", {"password": "a new password"}, headers=headers, status=403)
    assert "current_password" in missing.json["errors"]
    assert missing.json["type"].endswith("reauthentication-required")
    wrong = client.patch_json("/api/v1/users/me", {"password": "a new password", "current_password": "nope nope"},
                              headers=headers, status=403)
    assert "current_password" in wrong.json["errors"]
    assert users.get(user.id).token_version == user.token_version  # nothing changed


def test_password_change_invalidates_older_tokens_and_the_new_password_works(client, auth):
    user, headers = auth.user()
    client.patch_json("/api/v1/users/me", {"password": "a new password", "current_password": DEFAULT_PASSWORD},
                      headers=headers)
    client.get("/api/v1/users/me", headers=headers, status=401)
    client.post_json("/api/v1/auth/login", {"email": user.email, "password": DEFAULT_PASSWORD}, status=401)
    new_headers = auth.headers(auth.token(user, password="a new password"))
    client.get("/api/v1/users/me", headers=new_headers, status=200)


def test_new_password_follows_the_policy(client, auth, users):
    user, headers = auth.user()
    response = client.patch_json("/api/v1/users/me", {"password": user.email, "current_password": DEFAULT_PASSWORD},
                                 headers=headers, status=400)
    assert "password" in response.json["errors"]
    client.get("/api/v1/users/me", headers=headers, status=200)  # no half-applied change


def test_me_cannot_change_roles_or_email(client, auth):
    user, headers = auth.user()
    response = client.patch_json("/api/v1/users/me", {"roles": ["admin"], "email": "x@example.com"},
                                 headers=headers, status=400)
    assert set(response.json["errors"]) == {"roles", "email"}
    assert client.get("/api/v1/users/me", headers=headers).json["roles"] == ["user"]


def test_me_needs_a_token(client):
    client.get("/api/v1/users/me", status=401)
    client.patch_json("/api/v1/users/me", {"name": "x"}, status=401)
