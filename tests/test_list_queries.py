"""GET /api/v1/users: filters, sorts, keyset pagination across pages, Link header, totals."""
import datetime as dt
import urllib.parse

import pytest
import transaction

from app.entities import User
from app.extensions import db


@pytest.fixture
def directory(app, users):
    """Seven users with distinct names and creation times an hour apart (plus the admin who asks).

    Names share one capitalisation: how "a" sorts against "B" depends on the database's collation."""
    people = ["Ada", "Alan", "Barbara", "Edsger", "Grace", "Alonzo", "Donald"]
    created = [users.create(email=f"{name.lower()}@example.com", name=name, password=None,
                            is_active=name != "Edsger") for name in people]
    base = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    with app.app_context(), transaction.manager:
        for offset, user in enumerate(created):
            db.session.get(User, user.id).created_at = base + dt.timedelta(hours=offset)
    return {u.name: u for u in created}


def fetch_all(client, headers, query, limit=2):
    """Follow next_cursor until the end; returns (names in order, number of pages)."""
    names, cursor, pages = [], None, 0
    while True:
        params = dict(query, limit=limit, **({"cursor": cursor} if cursor else {}))
        page = client.get("/api/v1/users?" + urllib.parse.urlencode(params), headers=headers).json
        names += [item["name"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if not cursor:
            return names, pages


@pytest.mark.parametrize("sort", ["id", "-id", "created_at", "-created_at", "email", "-email", "name", "-name"])
def test_every_sort_pages_through_everything_in_order(client, auth, directory, sort):
    admin, headers = auth.admin()
    names, _ = fetch_all(client, headers, {"sort": sort})
    everyone = list(directory.values()) + [admin]
    key = sort.lstrip("-")

    def sort_key(u):
        value = getattr(u, key)
        return (value.lower() if isinstance(value, str) else value, u.id)

    expected = [u.name for u in sorted(everyone, key=sort_key, reverse=sort.startswith("-"))]
    assert names == expected


def test_filters_combine(client, auth, directory):
    admin, headers = auth.admin()
    names, _ = fetch_all(client, headers, {"q": "al", "sort": "name"})
    assert names == ["Alan", "Alonzo"]  # prefix of the email or of the name, case-insensitively
    names, _ = fetch_all(client, headers, {"is_active": "false"})
    assert names == ["Edsger"]
    names, _ = fetch_all(client, headers, {"role": "admin"})
    assert names == [admin.name]
    names, _ = fetch_all(client, headers, {"created_after": "2026-01-01T01:00:00Z",
                                           "created_before": "2026-01-01T05:00:00+00:00", "sort": "-created_at"})
    assert names == ["Grace", "Edsger", "Barbara"]  # both bounds exclusive
    names, _ = fetch_all(client, headers, {"created_after": "2026-01-01T01:00:00", "q": "a", "role": "user",
                                           "is_active": "true"})
    assert names == ["Alonzo"]  # naive datetimes are UTC


def test_q_treats_like_wildcards_literally(client, auth, directory):
    admin, headers = auth.admin()
    assert client.get("/api/v1/users?q=%25", headers=headers).json["items"] == []
    assert client.get("/api/v1/users?q=_da", headers=headers).json["items"] == []


def test_link_header_points_at_the_next_page(client, auth, directory):
    admin, headers = auth.admin()
    response = client.get("/api/v1/users?limit=3&sort=-name&is_active=true", headers=headers)
    link = response.headers["Link"]
    assert link.endswith('>; rel="next"')
    url = urllib.parse.urlsplit(link[1:link.index(">")])
    params = urllib.parse.parse_qs(url.query)
    assert params["cursor"] == [response.json["next_cursor"]]
    assert params["sort"] == ["-name"]
    assert params["is_active"] == ["true"]
    assert params["limit"] == ["3"]
    following = client.get(f"{url.path}?{url.query}", headers=headers).json
    assert [u["name"] for u in following["items"]] == ["Barbara", "Alonzo", "Alan"]  # after Test User, Grace, Donald
    last = client.get("/api/v1/users?limit=100", headers=headers)
    assert "Link" not in last.headers
    assert last.json["next_cursor"] is None


def test_total_only_when_asked(client, auth, directory):
    admin, headers = auth.admin()
    assert "total" not in client.get("/api/v1/users?limit=1", headers=headers).json
    page = client.get("/api/v1/users?limit=1&include_total=true&is_active=true", headers=headers).json
    assert page["total"] == 7
    assert len(page["items"]) == 1


def test_a_cursor_is_bound_to_its_sort(client, auth, directory):
    admin, headers = auth.admin()
    cursor = client.get("/api/v1/users?limit=1&sort=name", headers=headers).json["next_cursor"]
    response = client.get(f"/api/v1/users?limit=1&sort=email&cursor={cursor}", headers=headers, status=400)
    assert "cursor" in response.json["errors"]


@pytest.mark.parametrize(("query", "field"), [
    ("sort=password_hash", "sort"), ("sort=-", "sort"), ("role=root", "role"), ("is_active=perhaps", "is_active"),
    ("created_after=yesterday", "created_after"), ("include_total=2", "include_total"),
    # in range as written, out of range in UTC: an OverflowError (500) where the bound was converted for the database
    ("created_after=9999-12-31T23:59:59-14:00", "created_after"),
    ("created_before=0001-01-01T00:00:00%2B14:00", "created_before"),
    ("q=a%00b", "q"), ("q=%1B%5B2J", "q"), ("limit=%D9%A1", "limit"), ("limit=1_0", "limit"),
])
def test_bad_list_parameters_are_400(client, auth, query, field):
    admin, headers = auth.admin()
    assert field in client.get(f"/api/v1/users?{query}", headers=headers, status=400).json["errors"]


LIST_PARAMETERS = ["q", "role", "is_active", "created_after", "created_before", "sort", "limit", "cursor",
                   "include_total"]


@pytest.mark.parametrize(("query", "expected"), [
    ("created_after=0001-01-01T00:00:00Z", 8), ("created_before=9999-12-31T23:59:59.999999Z", 8),
    ("created_after=9999-12-31T23:59:59.999999Z", 0), ("created_before=0001-01-01T00:00:00Z", 0),
    ("created_after=0001-01-01T00:00:00-14:00", 8), ("created_before=9999-12-31T23:59:59%2B14:00", 8),
])
def test_bounds_at_the_ends_of_the_range_are_answered(client, auth, directory, query, expected):
    """The first and last instants of years 1 to 9999 in UTC are valid bounds on every database."""
    admin, headers = auth.admin()
    assert len(client.get(f"/api/v1/users?{query}&limit=100", headers=headers).json["items"]) == expected


@pytest.mark.parametrize("name", LIST_PARAMETERS)
def test_an_empty_parameter_counts_as_absent(client, auth, directory, name):
    """An empty search box or unset filter (`?q=`) means no filter; an empty cursor is the first page, an empty limit
    or sort their default."""
    admin, headers = auth.admin()
    paged = "" if name == "limit" else "limit=2"
    expected = client.get(f"/api/v1/users?{paged}", headers=headers)
    response = client.get(f"/api/v1/users?{paged}&{name}=", headers=headers)
    assert response.json == expected.json
    assert response.headers.get("Link") == expected.headers.get("Link")  # the next page's URL drops it too


def test_empty_parameters_beside_given_ones(client, auth, directory):
    admin, headers = auth.admin()
    empty = "&".join(f"{name}=" for name in LIST_PARAMETERS if name not in ("q", "sort"))
    page = client.get(f"/api/v1/users?{empty}&q=al&sort=name", headers=headers).json
    assert [u["name"] for u in page["items"]] == ["Alan", "Alonzo"]


@pytest.mark.parametrize("sort", ["id", "-id", "name"])
def test_role_filter_pages_through_every_holder(client, auth, directory, sort):
    admin, headers = auth.admin()
    names, pages = fetch_all(client, headers, {"role": "user", "sort": sort})
    holders = [*directory.values(), admin]
    key = (lambda u: u.id) if sort.endswith("id") else (lambda u: (u.name, u.id))
    assert names == [u.name for u in sorted(holders, key=key, reverse=sort.startswith("-"))]
    assert pages == 4


def _forged(position):
    import base64
    import json
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


@pytest.mark.parametrize(("sort", "position"), [
    ("created_at", {"s": "created_at", "k": 5, "t": 1}),                      # int where a datetime belongs
    ("created_at", {"s": "created_at", "k": {"dt": "2026-01-01T00:00:00"}, "t": 1}),  # naive datetime
    ("name", {"s": "name", "k": 7, "t": 1}),
    ("id", {"s": "id", "k": "x", "t": "x"}),
    ("email", {"s": "email", "k": ["a"], "t": "a"}),
    # values of the right type that no column holds: they reached the driver (500)
    ("name", {"s": "name", "k": "x\ud800y", "t": 1}),                     # a lone UTF-16 surrogate
    ("-email", {"s": "-email", "k": "\udfff", "t": 1}),
    ("created_at", {"s": "created_at", "k": {"dt": "0001-01-01T00:00:00+14:00"}, "t": 1}),  # before year 1 in UTC
    ("-created_at", {"s": "-created_at", "k": {"dt": "9999-12-31T23:59:59-14:00"}, "t": 1}),  # after 9999
    ("id", {"s": "id", "k": 2**63, "t": 2**63}),
])
def test_forged_cursors_with_wrong_types_or_values_are_400(client, auth, sort, position):
    admin, headers = auth.admin()
    response = client.get(f"/api/v1/users?sort={sort}&cursor={_forged(position)}", headers=headers, status=400)
    assert "cursor" in response.json["errors"]


@pytest.mark.parametrize("key", ["0001-01-01T00:00:00+00:00", "9999-12-31T23:59:59.999999+00:00"])
def test_a_cursor_at_either_end_of_the_range_is_a_position(client, auth, directory, key):
    admin, headers = auth.admin()
    cursor = _forged({"s": "created_at", "k": {"dt": key}, "t": 0})
    page = client.get(f"/api/v1/users?sort=created_at&limit=100&cursor={cursor}", headers=headers).json
    assert len(page["items"]) == (8 if key.startswith("0001") else 0)


@pytest.mark.parametrize(("path", "names"), [("/api/v1/users", LIST_PARAMETERS),
                                             ("/api/v1/audit-events", ["user_id", "type", "limit", "cursor"])])
def test_the_document_says_list_parameters_may_be_empty(client, path, names):
    parameters = client.get("/swagger/").json["paths"][path]["get"]["parameters"]
    assert sorted(p["name"] for p in parameters if p.get("allowEmptyValue") is True) == sorted(names)
