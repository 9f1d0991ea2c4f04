"""Inputs that once reached a 500 or a wrong account (found in review), now answered properly."""
import urllib.parse

import pytest

from tests.support import DEFAULT_PASSWORD

UNUSABLE_JSON = [
    '{"name": "x\\ud800y"}',                                   # lone UTF-16 surrogate (RFC 7493 2.1)
    '{"name": ' + "[" * 5000 + "]" * 5000 + "}",               # nesting deeper than the interpreter recurses
    '{"name": ' + "9" * 5000 + "}",                            # an integer literal Python refuses to convert
    '{"name": NaN}', '{"name": 1e400}',                        # not JSON numbers; past a double
    '{"name": "Ada", "name": "Eve"}',                          # a repeated member name (RFC 7493 2.3)
    b'{"name": "\xed\xa0\x80"}',                              # a surrogate encoded in UTF-8 bytes
]


@pytest.mark.parametrize("raw", UNUSABLE_JSON)
def test_unusable_json_is_invalid_json_not_a_missing_body(client, raw):
    response = client.post("/api/v1/auth/login", raw, content_type="application/json", status=400)
    assert response.content_type == "application/problem+json"
    assert list(response.json["errors"]) == ["_body"]
    assert response.json["errors"]["_body"][0].startswith("Invalid JSON body: ")


@pytest.mark.parametrize("raw", UNUSABLE_JSON)
def test_unusable_json_changes_nothing_where_an_empty_body_is_valid(client, auth, raw):
    """PATCH /users/me with no fields is a valid no-op: unusable JSON used to be taken for it (200, nothing done)."""
    user, headers = auth.user()
    response = client.patch("/api/v1/users/me", raw, content_type="application/json", headers=headers, status=400)
    assert list(response.json["errors"]) == ["_body"]
    assert client.get("/api/v1/users/me", headers=headers).json["name"] == user.name


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


@pytest.mark.parametrize("name", ["   ", "a\u0000b", "line\nbreak", "x\u0098", "Ada\n", "\tAda"])
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


@pytest.mark.parametrize("email", ['"\u0001"@example.com', '"a\u007f"@example.com', "ada@example.com\n"])
def test_emails_with_control_characters_are_400(client, users, email):
    """fields.Email takes control characters in a quoted local part; they are refused like everywhere else."""
    response = client.post_json("/api/v1/auth/register", {"email": email, "name": "Ada", "password": DEFAULT_PASSWORD},
                                status=400)
    assert "email" in response.json["errors"]
    assert users.count() == 0


@pytest.mark.parametrize("password", ["correct\u0000horse battery", "correct horse\tbattery",
                                      "correct horse battery\n", "correct horse \u0085battery"])
def test_new_passwords_with_control_characters_are_400(client, users, password):
    response = client.post_json("/api/v1/auth/register", {"email": "p@example.com", "name": "P",
                                                          "password": password}, status=400)
    assert "control characters" in response.json["errors"]["password"][0]
    assert users.count() == 0


def test_any_printable_unicode_makes_a_password(client, users):
    """NIST SP 800-63B: spaces and Unicode are allowed, no composition rules."""
    password = "Ünïcödé pässwörd ✓ 🔑 日本語"
    client.post_json("/api/v1/auth/register", {"email": "u@example.com", "name": "U", "password": password},
                     status=201)
    client.post_json("/api/v1/auth/login", {"email": "u@example.com", "password": password}, status=200)


@pytest.mark.parametrize("field", ["email", "password"])
def test_a_login_with_control_characters_is_400_and_not_audited(client, users, auth, field):
    user = users.create()
    admin, headers = auth.admin()
    before = client.get("/api/v1/audit-events", headers=headers).json["items"]
    body = {"email": user.email, "password": user.password, field: "a\u0000b"}
    response = client.post_json("/api/v1/auth/login", body, status=400)
    assert list(response.json["errors"]) == [field]
    assert client.get("/api/v1/audit-events", headers=headers).json["items"] == before


@pytest.mark.parametrize("spelling", ["\u0660\u0661\u0662", "\uff10\uff11\uff12", "+", " "])
def test_ids_spelled_otherwise_name_no_user(client, auth, users, spelling):
    """Werkzeug's int converter read any script's digits (/users/\u0661 was /users/1): one spelling per id."""
    admin, headers = auth.admin()
    target = users.create()
    digits = str(target.id)
    if spelling in ("+", " "):
        alias = spelling + digits
    else:
        alias = "".join(spelling[0] if d == "0" else chr(ord(spelling[0]) + int(d)) for d in digits)
    path = "/api/v1/users/" + urllib.parse.quote(alias)
    client.get(path, headers=headers, status=404)
    client.delete(path, headers=headers, status=404)
    assert users.get(target.id) is not None
