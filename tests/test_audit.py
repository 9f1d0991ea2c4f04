"""The audit trail: security events written in the transaction of their change, read by admins only."""
import pytest

from app.services.events import UserEvents
from tests.support import DEFAULT_PASSWORD, ApiClient
from tests.test_transactions import FailingEvents

EVENTS = "/api/v1/audit-events"


def events(client, headers, **query):
    return client.get(EVENTS, params=query, headers=headers).json["items"]


def types(items):
    return [item["type"] for item in items]


def test_only_admins_read_the_trail(client, auth):
    _user, user_headers = auth.user()
    client.get(EVENTS, status=401)
    client.get(EVENTS, headers=user_headers, status=403)


def test_logins_are_recorded_with_client_address_and_agent_but_never_the_typed_email(client, auth, users):
    user = users.create()
    agent = {"User-Agent": "audit-test/1.0"}
    client.post_json("/api/v1/auth/login", {"email": user.email, "password": DEFAULT_PASSWORD}, headers=agent,
                     extra_environ={"REMOTE_ADDR": "203.0.113.7"})
    client.post_json("/api/v1/auth/login", {"email": user.email, "password": "wrong password"}, headers=agent,
                     status=401)
    client.post_json("/api/v1/auth/login", {"email": "my secret pw@oops", "password": "x"}, status=401)
    _admin, headers = auth.admin()
    items = events(client, headers, type="login.failed")
    assert [item["user_id"] for item in items] == [None, user.id]  # newest first; unknown email: no user
    assert all("my secret pw" not in str(item) for item in items)
    succeeded = events(client, headers, user_id=user.id, type="login.succeeded")
    assert len(succeeded) == 1
    assert succeeded[0]["ip_address"] == "203.0.113.7"
    assert succeeded[0]["user_agent"] == "audit-test/1.0"
    assert succeeded[0]["details"] == {"method": "password", "acr": "aal1"}


def test_admin_changes_are_recorded_with_the_admin_as_actor(client, auth, users):
    admin, headers = auth.admin()
    target = users.create()
    client.patch_json(f"/api/v1/users/{target.id}", {"roles": ["user", "admin"]}, headers=headers)
    client.patch_json(f"/api/v1/users/{target.id}", {"is_active": False}, headers=headers)
    client.patch_json(f"/api/v1/users/{target.id}", {"password": "a brand new password"}, headers=headers)
    client.patch_json(f"/api/v1/users/{target.id}", {"name": "Only a name"}, headers=headers)  # not a security event
    items = events(client, headers, user_id=target.id)
    assert types(items) == ["password.changed", "user.activation_changed", "user.roles_changed", "user.registered"]
    assert {item["actor_id"] for item in items[:3]} == {admin.id}
    assert items[2]["details"] == {"before": ["user"], "after": ["admin", "user"]}
    assert items[1]["details"] == {"is_active": False}
    client.delete(f"/api/v1/users/{target.id}", headers=headers, status=204)
    assert types(events(client, headers, user_id=target.id))[0] == "user.deleted"  # the trail outlives the account


def test_own_password_change_and_logout_are_recorded(client, auth, users):
    user = users.create()
    token = auth.token(user)
    client.post("/api/v1/auth/logout", headers=auth.headers(token), status=204)
    client.patch_json("/api/v1/users/me", {"password": "another long password", "current_password": DEFAULT_PASSWORD},
                      headers=auth.headers(user))
    _admin, headers = auth.admin()
    assert types(events(client, headers, user_id=user.id))[:3] == ["password.changed", "login.succeeded", "logout"]


def test_an_event_exists_only_if_its_change_committed(make_app, users, auth):
    failing = ApiClient(make_app(injector_modules=[lambda b: b.bind(UserEvents, to=FailingEvents)]))
    failing.post_json("/api/v1/auth/register", {"email": "r@example.com", "name": "R", "password": DEFAULT_PASSWORD},
                      status=500)
    assert users.count() == 0
    admin, headers = auth.admin()
    registered = events(auth.client, headers, type="user.registered")
    assert [item["user_id"] for item in registered] == [admin.id]  # the admin's own; none for the rolled-back one


def test_pages_filters_and_bad_queries(client, auth, users):
    _admin, headers = auth.admin()
    user = users.create()
    for _ in range(5):
        client.post_json("/api/v1/auth/login", {"email": user.email, "password": "wrong password"}, status=401)
    first = client.get(EVENTS, params={"type": "login.failed", "limit": 2}, headers=headers)
    assert len(first.json["items"]) == 2
    assert first.json["next_cursor"]
    assert 'rel="next"' in first.headers["Link"]
    seen = [item["id"] for item in first.json["items"]]
    cursor = first.json["next_cursor"]
    while cursor:
        page = client.get(EVENTS, params={"type": "login.failed", "limit": 2, "cursor": cursor}, headers=headers).json
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
    assert len(seen) == 5
    assert seen == sorted(seen, reverse=True)
    for bad in ({"type": "no.such.type"}, {"limit": 0}, {"user_id": "x"}, {"cursor": "garbage"}):
        response = client.get(EVENTS, params=bad, headers=headers, status=400)
        assert response.content_type == "application/problem+json"

    assert set(first.json["items"][0]) == {"id", "type", "user_id", "actor_id", "ip_address", "user_agent", "details",
                                           "created_at"}


@pytest.mark.parametrize("name", ["user_id", "type", "limit", "cursor"])
def test_an_empty_parameter_counts_as_absent(client, auth, users, name):
    _admin, headers = auth.admin()
    for _ in range(3):
        users.create()
    paged = {} if name == "limit" else {"limit": 2}
    expected = client.get(EVENTS, params=paged, headers=headers)
    response = client.get(EVENTS, params={**paged, name: ""}, headers=headers)
    assert response.json == expected.json
    assert response.headers.get("Link") == expected.headers.get("Link")
