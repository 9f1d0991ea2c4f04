"""The user journey through the Python client that openapi-python-client generates from the served /openapi.json.

tests/test_generated_clients.py generates the package `gatehouse_client` into a temporary directory, checks this
script with `mypy --strict` (the package on its path), then runs it with GATEHOUSE_URL, GATEHOUSE_ADMIN_EMAIL and
GATEHOUSE_ADMIN_PASSWORD set. Every type comes from the generated package: the response bodies are narrowed from
the generated unions with isinstance (`expect` below), never cast. Exits 0 when every step went as documented.
"""
import os
import secrets
import sys
from typing import TypeVar

from gatehouse_client import AuthenticatedClient, Client
from gatehouse_client.api.auth import login, logout, refresh, register
from gatehouse_client.api.users import create_user, get_me, list_users, update_me, update_user
from gatehouse_client.models import (
    LoginRequest,
    MeUpdate,
    Problem,
    ProblemErrors,
    RefreshRequest,
    RegisterRequest,
    TokenResponse,
    UserCreate,
    UserCreateRolesItem,
    UserList,
    UserPublic,
    UserUpdate,
    UserUpdateRolesItem,
)
from gatehouse_client.types import Response

Body = TypeVar("Body")
Parsed = TypeVar("Parsed")
PASSWORD = "correct horse battery staple"


class JourneyError(Exception):
    """A step answered something the document does not lead a client to expect."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise JourneyError(message)


def expect(response: Response[Parsed], status: int, kind: type[Body]) -> Body:
    """The parsed body of `response`, which must have `status` and parse as `kind` (one member of the generated
    union of the operation's documented bodies)."""
    body = response.parsed
    check(response.status_code == status, f"expected {status}, got {response.status_code}: {response.content!r}")
    if not isinstance(body, kind):
        raise JourneyError(f"expected a {kind.__name__} with {status}, got {type(body).__name__}")
    return body


def expect_problem(response: Response[Parsed], status: int) -> Problem:
    """An RFC 9457 problem document with `status`, served as application/problem+json."""
    problem = expect(response, status, Problem)
    content_type = response.headers.get("content-type", "")
    check(content_type.startswith("application/problem+json"), f"problem served as {content_type!r}")
    check(problem.status == status, f"problem status {problem.status} on a {status} response")
    check(bool(problem.type_ and problem.title and problem.detail), f"incomplete problem {problem!r}")
    return problem


def step(message: str) -> None:
    print(f"python journey: {message}", flush=True)


def main() -> int:
    base_url = os.environ["GATEHOUSE_URL"]
    public = Client(base_url=base_url, raise_on_unexpected_status=True)
    email = f"py-{secrets.token_hex(4)}@example.com"

    user = expect(register.sync_detailed(client=public, body=RegisterRequest(email=email, name="Py Client",
                                                                               password=PASSWORD)), 201, UserPublic)
    check(user.email == email and user.roles == ["user"], f"registered {user!r}")
    step(f"register {email} -> 201, user id {user.id}, roles {user.roles}")

    invalid = expect_problem(register.sync_detailed(client=public, body=RegisterRequest(
        email="not-an-email", name="Py Client", password=PASSWORD)), 400)
    check(isinstance(invalid.errors, ProblemErrors), "the 400 problem has no errors member")
    fields = invalid.errors.additional_properties if isinstance(invalid.errors, ProblemErrors) else {}
    check("email" in fields, f"the 400 problem's errors name {sorted(fields)}, not email")
    step(f"register with a bad email -> 400 problem {invalid.title!r}, errors {fields}")

    duplicate = expect_problem(register.sync_detailed(client=public, body=RegisterRequest(
        email=email.upper(), name="Py Client", password=PASSWORD)), 409)
    step(f"register the same email again -> 409 problem {duplicate.title!r}: {duplicate.detail}")

    tokens = expect(login.sync_detailed(client=public, body=LoginRequest(email=email, password=PASSWORD)), 200,
                    TokenResponse)
    check(tokens.token_type.lower() == "bearer" and tokens.expires_in > 0, f"token response {tokens!r}")
    step(f"login -> 200, {tokens.token_type} token expiring in {tokens.expires_in} s")

    stranger = AuthenticatedClient(base_url=base_url, token="not-a-token", raise_on_unexpected_status=True)
    unauthorized = get_me.sync_detailed(client=stranger)
    problem = expect_problem(unauthorized, 401)
    check(unauthorized.headers.get("www-authenticate", "").startswith("Bearer"), "401 without WWW-Authenticate")
    step(f"me with a bad token -> 401 problem {problem.title!r}: {problem.detail}")

    session = AuthenticatedClient(base_url=base_url, token=tokens.access_token, raise_on_unexpected_status=True)
    me_response = get_me.sync_detailed(client=session)
    me = expect(me_response, 200, UserPublic)
    check(me.id == user.id, f"me is {me!r}")
    step(f"me -> 200, {me.email} ({me.name}), ETag {me_response.headers.get('etag')}")

    renamed = expect(update_me.sync_detailed(client=session, body=MeUpdate(name="Py Client Renamed"),
                                             if_match=me_response.headers["etag"]), 200, UserPublic)
    check(renamed.name == "Py Client Renamed", f"renamed to {renamed.name!r}")
    step(f"patch me (If-Match) -> 200, name {renamed.name!r}")

    tokens = expect(refresh.sync_detailed(client=public, body=RefreshRequest(refresh_token=tokens.refresh_token)),
                    200, TokenResponse)
    session = AuthenticatedClient(base_url=base_url, token=tokens.access_token, raise_on_unexpected_status=True)
    check(expect(get_me.sync_detailed(client=session), 200, UserPublic).id == user.id, "refreshed token")
    step("refresh -> 200, a new pair; the new access token works")

    admin_tokens = expect(login.sync_detailed(client=public, body=LoginRequest(
        email=os.environ["GATEHOUSE_ADMIN_EMAIL"], password=os.environ["GATEHOUSE_ADMIN_PASSWORD"])), 200,
        TokenResponse)
    admin = AuthenticatedClient(base_url=base_url, token=admin_tokens.access_token, raise_on_unexpected_status=True)
    created = expect(create_user.sync_detailed(client=admin, body=UserCreate(
        email=f"py-made-{secrets.token_hex(4)}@example.com", name="Made By Admin", password=PASSWORD,
        roles=[UserCreateRolesItem.USER])), 201, UserPublic)
    step(f"admin creates {created.email} -> 201, id {created.id}, roles {created.roles}")
    promoted = expect(update_user.sync_detailed(created.id, client=admin, body=UserUpdate(
        roles=[UserUpdateRolesItem.USER, UserUpdateRolesItem.ADMIN])), 200, UserPublic)
    check(sorted(promoted.roles) == ["admin", "user"], f"roles now {promoted.roles}")
    step(f"admin changes its roles -> 200, roles {promoted.roles}")

    seen: list[int] = []
    pages = 0
    cursor: str | None = None
    while True:
        page = expect(list_users.sync_detailed(client=session, limit=2) if cursor is None
                      else list_users.sync_detailed(client=session, limit=2, cursor=cursor), 200, UserList)
        pages += 1
        seen.extend(item.id for item in page.items)
        check(pages <= 1000, "the directory never ends")
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    check(len(seen) == len(set(seen)) and {user.id, created.id} <= set(seen), f"directory ids {seen}")
    step(f"directory, 2 per page -> {pages} pages, {len(seen)} users, last page has next_cursor null")

    check(logout.sync_detailed(client=session).status_code == 204, "logout")
    after = expect_problem(get_me.sync_detailed(client=session), 401)
    step(f"logout -> 204; me with the old token -> 401 problem {after.title!r}")
    check(logout.sync_detailed(client=admin).status_code == 204, "admin logout")
    step("admin logout -> 204; journey done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
