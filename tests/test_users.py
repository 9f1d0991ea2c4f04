"""The user directory and admin management: /api/v1/users and /api/v1/users/<id>."""
import threading

import pytest


def test_list_pages_through_every_user_in_id_order(client, auth, users):
    me, headers = auth.user()
    created = [me] + [users.create() for _ in range(4)]
    seen, cursor, pages = [], None, 0
    while True:
        url = "/api/v1/users?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(url, headers=headers).json
        pages += 1
        assert len(page["items"]) <= 2
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(u.id for u in created)
    assert pages == 3


def test_list_has_no_next_cursor_when_the_page_is_exactly_full(client, auth, users):
    me, headers = auth.user()
    users.create()
    page = client.get("/api/v1/users?limit=2", headers=headers).json
    assert len(page["items"]) == 2
    assert page["next_cursor"] is None


def test_list_default_limit_is_20(client, auth, users):
    me, headers = auth.user()
    for _ in range(21):
        users.create(password=None)
    page = client.get("/api/v1/users", headers=headers).json
    assert len(page["items"]) == 20
    assert page["next_cursor"]


@pytest.mark.parametrize(("query", "field"), [
    ("limit=0", "limit"), ("limit=101", "limit"), ("limit=abc", "limit"),
    ("cursor=bogus", "cursor"), ("cursor=eyJpZCI6ICJ4In0", "cursor"),
])
def test_list_rejects_bad_queries(client, auth, query, field):
    me, headers = auth.user()
    response = client.get(f"/api/v1/users?{query}", headers=headers, status=400)
    assert field in response.json["errors"]


def test_get_user_by_id_and_404(client, auth, users):
    me, headers = auth.user()
    other = users.create(name="Other")
    assert client.get(f"/api/v1/users/{other.id}", headers=headers).json["name"] == "Other"
    response = client.get(f"/api/v1/users/{other.id + 1000}", headers=headers, status=404)
    assert response.content_type == "application/problem+json"


def test_plain_users_cannot_manage_users(client, auth, users):
    me, headers = auth.user()
    other = users.create()
    client.post_json("/api/v1/users", {"email": "n@example.com", "name": "N"}, headers=headers, status=403)
    client.patch_json(f"/api/v1/users/{other.id}", {"name": "x"}, headers=headers, status=403)
    client.delete(f"/api/v1/users/{other.id}", headers=headers, status=403)
    assert users.get(other.id).name == "Test User"


def test_admin_creates_a_user_with_roles_and_without_password(client, auth):
    admin, headers = auth.admin()
    response = client.post_json("/api/v1/users", {"email": "New@Example.com", "name": "New", "roles": ["admin", "user"],
                                                  "is_active": False}, headers=headers, status=201)
    body = response.json
    assert body["email"] == "new@example.com"
    assert body["roles"] == ["admin", "user"]
    assert body["is_active"] is False
    assert response.headers["Location"].endswith(f"/api/v1/users/{body['id']}")
    client.post_json("/api/v1/auth/login", {"email": "new@example.com", "password": ""}, status=401)


def test_admin_create_defaults_and_conflict(client, auth, users):
    admin, headers = auth.admin()
    body = client.post_json("/api/v1/users", {"email": "d@example.com", "name": "D", "password": "pass word 1"},
                            headers=headers, status=201).json
    assert body["roles"] == ["user"]
    assert body["is_active"] is True
    client.post_json("/api/v1/auth/login", {"email": "d@example.com", "password": "pass word 1"}, status=200)
    client.post_json("/api/v1/users", {"email": "D@example.com", "name": "D2"}, headers=headers, status=409)


@pytest.mark.parametrize(("body", "field"), [
    ({"email": "e@example.com", "name": "E", "roles": ["root"]}, "roles.0"),
    ({"email": "e@example.com", "name": "E", "roles": []}, "roles"),
    ({"email": "e@example.com", "name": "E", "is_active": "maybe"}, "is_active"),
    ({"email": "e@example.com", "name": "E", "id": 5}, "id"),
])
def test_admin_create_validation(client, auth, users, body, field):
    admin, headers = auth.admin()
    response = client.post_json("/api/v1/users", body, headers=headers, status=400)
    assert field in response.json["errors"]
    assert users.count() == 1


def test_admin_updates_fields(client, auth, users):
    admin, headers = auth.admin()
    user = users.create()
    body = client.patch_json(f"/api/v1/users/{user.id}", {"name": "Renamed", "email": "Renamed@example.com"},
                             headers=headers).json
    assert body["name"] == "Renamed"
    assert body["email"] == "renamed@example.com"


def test_admin_update_to_a_taken_email_conflicts(client, auth, users):
    admin, headers = auth.admin()
    a, b = users.create(), users.create()
    client.patch_json(f"/api/v1/users/{a.id}", {"email": b.email.upper(), "name": "changed"}, headers=headers,
                      status=409)
    assert users.get(a.id).name == "Test User"  # all or nothing


@pytest.mark.parametrize("change", [{"is_active": False}, {"roles": ["user"]}, {"password": "brand new pw"}],
                         ids=["deactivation", "role-removal", "new-password"])
def test_admin_update_to_a_taken_email_that_also_ends_sessions_conflicts(client, auth, users, change):
    """Ending the sessions runs a statement, which autoflushed the new email before its violation was mapped (500)."""
    admin, headers = auth.admin()
    target, other = users.admin(), users.create()
    target_headers = auth.headers(target)
    response = client.patch_json(f"/api/v1/users/{target.id}", {"email": other.email, **change}, headers=headers,
                                 status=409)
    assert response.content_type == "application/problem+json"
    assert response.json["type"].endswith("email-taken")
    stored = users.get(target.id)  # nothing half-written: the account, its sessions and the audit trail as before
    assert (stored.email, stored.is_active, stored.roles) == (target.email, True, ["admin", "user"])
    client.get("/api/v1/users/me", headers=target_headers, status=200)
    trail = client.get("/api/v1/audit-events", params={"user_id": target.id}, headers=headers).json["items"]
    assert [event["type"] for event in trail] == ["login.succeeded", "user.registered"]
    client.post_json("/api/v1/auth/login", {"email": target.email, "password": target.password}, status=200)


@pytest.mark.mysql
def test_two_admins_moving_two_users_to_one_free_email_give_one_200_and_one_409(app, client, auth, users):
    """The loser's UPDATE waits on the winner's unique-index entry and fails in the autoflush of ending sessions."""
    admin, headers = auth.admin()
    targets = [users.create(), users.create()]
    start, statuses = threading.Barrier(2), {}

    def move(target):
        start.wait()
        statuses[target.id] = client.patch_json(f"/api/v1/users/{target.id}", {"email": "moved@example.com",
                                                "is_active": False}, headers=headers, expect_errors=True).status_int

    threads = [threading.Thread(target=move, args=(target,)) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(statuses.values()) == [200, 409]
    loser = next(target for target in targets if statuses[target.id] == 409)
    assert (users.get(loser.id).email, users.get(loser.id).is_active) == (loser.email, True)


def test_deactivation_takes_effect_on_the_next_request(client, auth, users):
    admin, headers = auth.admin()
    user, user_headers = auth.user()
    client.get("/api/v1/users/me", headers=user_headers, status=200)
    client.patch_json(f"/api/v1/users/{user.id}", {"is_active": False}, headers=headers)
    client.get("/api/v1/users/me", headers=user_headers, status=401)
    client.post_json("/api/v1/auth/login", {"email": user.email, "password": user.password}, status=401)


def test_role_change_takes_effect_on_the_next_request(client, auth, users):
    admin, headers = auth.admin()
    other_admin = users.admin()
    other_headers = auth.headers(other_admin)
    target = users.create()
    client.patch_json(f"/api/v1/users/{target.id}", {"name": "ok"}, headers=other_headers, status=200)
    client.patch_json(f"/api/v1/users/{other_admin.id}", {"roles": ["user"]}, headers=headers)
    # A removed role ends the demoted user's sessions; signed in again, they lack the role.
    client.patch_json(f"/api/v1/users/{target.id}", {"name": "no"}, headers=other_headers, status=401)
    client.patch_json(f"/api/v1/users/{target.id}", {"name": "no"}, headers=auth.headers(other_admin), status=403)
    client.patch_json(f"/api/v1/users/{target.id}", {"roles": ["user", "admin"]}, headers=headers)
    client.delete(f"/api/v1/users/{other_admin.id}", headers=auth.headers(target), status=204)


def test_admin_password_reset_revokes_the_users_tokens(client, auth, users):
    admin, headers = auth.admin()
    user, user_headers = auth.user()
    client.patch_json(f"/api/v1/users/{user.id}", {"password": "brand new pw"}, headers=headers)
    client.get("/api/v1/users/me", headers=user_headers, status=401)
    client.post_json("/api/v1/auth/login", {"email": user.email, "password": "brand new pw"}, status=200)


def test_admin_cannot_demote_deactivate_or_delete_themselves(client, auth, users):
    admin, headers = auth.admin()
    for body in ({"roles": ["user"]}, {"is_active": False}):
        response = client.patch_json(f"/api/v1/users/{admin.id}", body, headers=headers, status=409)
        assert response.json["type"].endswith("self-lockout")
    client.delete(f"/api/v1/users/{admin.id}", headers=headers, status=409)
    stored = users.get(admin.id)
    assert stored.roles == ["admin", "user"]
    assert stored.is_active
    assert client.patch_json(f"/api/v1/users/{admin.id}", {"name": "Still me"}, headers=headers).json["name"] == \
        "Still me"


def test_admin_deletes_a_user(client, auth, users):
    admin, headers = auth.admin()
    user, user_headers = auth.user()
    response = client.delete(f"/api/v1/users/{user.id}", headers=headers, status=204)
    assert response.body == b""
    assert users.get(user.id) is None
    client.get("/api/v1/users/me", headers=user_headers, status=401)
    client.delete(f"/api/v1/users/{user.id}", headers=headers, status=404)
    client.patch_json(f"/api/v1/users/{user.id}", {"name": "x"}, headers=headers, status=404)


def test_response_never_contains_a_password_hash(client, auth, users):
    admin, headers = auth.admin()
    bodies = [client.get("/api/v1/users", headers=headers).text,
              client.get(f"/api/v1/users/{admin.id}", headers=headers).text,
              client.get("/api/v1/users/me", headers=headers).text]
    stored_hash = users.get(admin.id).password_hash
    assert stored_hash.startswith("$argon2id$")
    for body in bodies:
        assert "password" not in body
        assert stored_hash not in body
