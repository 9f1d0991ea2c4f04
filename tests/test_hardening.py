"""Inputs that once reached a 500 or a wrong account (found in review), now answered properly."""
import pytest

from tests.support import DEFAULT_PASSWORD


@pytest.mark.parametrize("raw", [
    '{"email": "a@b.example", "password": "\\ud800"}',          # lone UTF-16 surrogate
    '{"email": ' + "[" * 5000 + "]" * 5000 + "}",              # nesting deeper than the interpreter recurses
    '{"email": ' + "9" * 5000 + "}",                           # an integer literal Python refuses to convert
])
def test_unusable_json_is_400(client, raw):
    response = client.post("/api/v1/auth/login", raw, content_type="application/json", status=400)
    assert response.content_type == "application/problem+json"


@pytest.mark.parametrize("method", ["get", "patch_json", "delete"])
def test_ids_beyond_bigint_are_404(client, auth, method):
    admin, headers = auth.admin()
    args = ({"name": "x"},) if method == "patch_json" else ()
    getattr(client, method)("/api/v1/users/99999999999999999999", *args, headers=headers, status=404)


def test_email_that_grows_when_lower_cased_is_400(client, users):
    email = "İ" * 240 + "@example.org"  # 252 characters; lower-cased, 492
    response = client.post_json("/api/v1/auth/register", {"email": email, "name": "I", "password": DEFAULT_PASSWORD},
                                status=400)
    assert "email" in response.json["errors"]
    assert users.count() == 0


def test_lookalike_emails_are_different_accounts(client, users):
    """On MySQL the default collations fold accents; the email column compares bytes instead."""
    boss = users.create(email="boss@corp.example")
    client.post_json("/api/v1/auth/register", {"email": "boss@córp.example", "name": "Lookalike",
                                               "password": "lookalike password"}, status=201)
    client.post_json("/api/v1/auth/login", {"email": "boss@córp.example", "password": boss.password}, status=401)


def test_non_ascii_local_parts_are_refused_because_they_cannot_be_mailed(client, users):
    response = client.post_json("/api/v1/auth/register", {"email": "bóss@corp.example", "name": "Lookalike",
                                                          "password": "lookalike password"}, status=400)
    assert "ASCII" in response.json["errors"]["email"][0]
    assert users.count() == 0


def test_a_deleted_users_token_does_not_open_a_new_account_with_the_same_id(client, auth, users):
    admin, admin_headers = auth.admin()
    victim, victim_headers = auth.user()
    client.delete(f"/api/v1/users/{victim.id}", headers=admin_headers, status=204)
    newcomer = users.create()
    if newcomer.id == victim.id:  # SQLite reuses the highest rowid: the case that matters
        assert newcomer.token_version != victim.token_version
    client.get("/api/v1/users/me", headers=victim_headers, status=401)


@pytest.mark.parametrize("value", ["yes", 1, "true", None])
def test_json_booleans_are_strict(client, auth, users, value):
    admin, headers = auth.admin()
    target = users.create()
    response = client.patch_json(f"/api/v1/users/{target.id}", {"is_active": value}, headers=headers, status=400)
    assert "is_active" in response.json["errors"]


@pytest.mark.parametrize("name", ["   ", "a\u0000b", "line\nbreak", "x\u0098"])
def test_names_must_be_printable_one_liners(client, name):
    response = client.post_json("/api/v1/auth/register", {"email": "n@example.com", "name": name,
                                                          "password": DEFAULT_PASSWORD}, status=400)
    assert "name" in response.json["errors"]


def test_failed_login_and_missing_role_carry_a_bearer_challenge(client, auth):
    user, headers = auth.user()
    failed = client.post_json("/api/v1/auth/login", {"email": user.email, "password": "wrong one"}, status=401)
    assert failed.headers["WWW-Authenticate"] == 'Bearer realm="gatehouse"'  # RFC 9110 15.5.2
    forbidden = client.post_json("/api/v1/users", {"email": "x@example.com", "name": "X"}, headers=headers,
                                 status=403)
    assert forbidden.headers["WWW-Authenticate"] == 'Bearer realm="gatehouse", error="insufficient_scope"'
