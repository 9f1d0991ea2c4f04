"""The table of racing pairs: each row names two operations on one account, the setup they need, the answers
allowed (as (first, second) status pairs: "exactly one winner" is a set without (200, 200)), and the invariants
checked once both have answered. Adding a pair is adding a row to PAIRS.

Operations, setups and checks are small functions of the round (`Round`): an operation returns the Request its
side sends; a setup step prepares the account, its sessions and tokens; a check raises AssertionError with a
message that says what broke.
"""
import itertools
import secrets
from dataclasses import dataclass, field

from tests.races.harness import (
    API,
    INVALID_TOKEN,
    RESET_SUBJECT,
    VERIFY_SUBJECT,
    Account,
    Request,
    Tokens,
    new_password,
    unique_address,
)

SIDES = "ab"


@dataclass
class Round:
    """One round of one pair: the fresh account, the tokens the operations use, and what they answered."""

    world: object
    pair: object
    number: int
    account: Account | None = None
    sessions: list = field(default_factory=list)  # Tokens made in setup
    etag: str | None = None
    reset_token: str | None = None
    id_token: str | None = None
    subject: str | None = None
    values: dict = field(default_factory=dict)  # (side, kind) -> value the side sends (new password, name)
    responses: tuple = ()  # (first, second)

    @property
    def label(self):
        return f"{self.pair.slug}.r{self.number}"

    def value(self, side, kind):
        """The value `side` sends for `kind` (a new password or name), made once per round."""
        key = (side, kind)
        if key not in self.values:
            self.values[key] = new_password() if kind == "password" else f"Name {side} {secrets.token_hex(3)}"
        return self.values[key]

    def status(self, side):
        return self.responses[SIDES.index(side)].status

    def response(self, side):
        return self.responses[SIDES.index(side)]

    def winner(self, status=200):
        """The one side that answered `status`."""
        sides = [side for side in SIDES if self.status(side) == status]
        assert len(sides) == 1, f"expected exactly one {status}, got {self.outcome}"
        return sides[0]

    @property
    def outcome(self):
        return "+".join(str(response.status) for response in self.responses)

    def issued(self):
        """Tokens the racing operations were given (logins, refreshes, social sign-ins that answered 200)."""
        return [Tokens.of(r) for r in self.responses
                if r.status == 200 and isinstance(r.json, dict) and "refresh_token" in r.json]

    def ops_sent(self, kind):
        """Values of `kind` the operations sent (e.g. every new password)."""
        return [value for (_side, k), value in self.values.items() if k == kind]


# --- operations: (round, side) -> Request ---------------------------------------------------------------------

def logout(session=0):
    def op(r, side):
        return Request("POST", f"{API}/auth/logout", token=r.sessions[session].access)
    op.__name__ = "logout"
    return op


def logout_all(session=0):
    def op(r, side):
        return Request("POST", f"{API}/auth/logout-all", token=r.sessions[session].access)
    op.__name__ = "logout-all"
    return op


def refresh(session=0):
    def op(r, side):
        return Request("POST", f"{API}/auth/refresh", {"refresh_token": r.sessions[session].refresh})
    op.__name__ = "refresh"
    return op


def login_old_password(r, side):
    return Request("POST", f"{API}/auth/login", {"email": r.account.email, "password": r.account.password})


def self_password_change(session=0):
    def op(r, side):
        return Request("PATCH", f"{API}/users/me", {"password": r.value(side, "password"),
                                                    "current_password": r.account.password},
                       token=r.sessions[session].access)
    op.__name__ = "self password change"
    return op


def admin_password_change(r, side):
    return _admin(r, "PATCH", {"password": r.value(side, "password")})


def deactivate(r, side):
    return _admin(r, "PATCH", {"is_active": False})


def delete(r, side):
    return _admin(r, "DELETE")


def admin_rename(r, side):
    return _admin(r, "PATCH", {"name": r.value(side, "name")})


def set_roles(*roles):
    def op(r, side):
        return _admin(r, "PATCH", {"roles": list(roles)})
    op.__name__ = f"roles={'+'.join(roles)}"
    return op


def patch_me_if_match(session=0):
    def op(r, side):
        return Request("PATCH", f"{API}/users/me", {"name": r.value(side, "name")}, r.sessions[session].access,
                       (("If-Match", r.etag),))
    op.__name__ = "PATCH /users/me If-Match"
    return op


def patch_user_if_match(r, side):
    return _admin(r, "PATCH", {"name": r.value(side, "name")}, (("If-Match", r.etag),))


def reset_request(r, side):
    return Request("POST", f"{API}/auth/password-reset", {"email": r.account.email})


def reset_confirm(r, side):
    return Request("POST", f"{API}/auth/password-reset/confirm",
                   {"token": r.reset_token, "new_password": r.value(side, "password")})


def verify_resend(session=0):
    def op(r, side):
        return Request("POST", f"{API}/auth/verify-email/resend", token=r.sessions[session].access)
    op.__name__ = "verify-email resend"
    return op


def social_sign_in(r, side):
    return Request("POST", f"{API}/auth/social/test", {"id_token": r.id_token})


def _admin(r, method, body=None, headers=()):
    return Request(method, f"{API}/users/{r.account.id}", body, r.world.admin_token(), headers)


# --- setup steps: round -> None -------------------------------------------------------------------------------

def account(sessions=1, roles=("user",)):
    """A fresh account made by the admin (unverified email, a password), logged in `sessions` times."""
    def step(r):
        r.account, r.sessions = r.world.new_account(r.label, sessions=sessions, roles=roles)
    return step


def etag_of_me(r):
    response = r.world.api.call(Request("GET", f"{API}/users/me", token=r.sessions[0].access), f"{r.label}.etag")
    assert response.status == 200, f"setup: GET /users/me: {response.brief()}"
    assert response.headers.get("etag"), "setup: GET /users/me without an ETag"
    r.etag = response.headers["etag"]


def etag_of_user(r):
    response = r.world.as_admin("GET", f"{API}/users/{r.account.id}", label=f"{r.label}.etag")
    assert response.status == 200, f"setup: GET /users/id: {response.brief()}"
    assert response.headers.get("etag"), "setup: GET /users/id without an ETag"
    r.etag = response.headers["etag"]


def mailed_reset_token(r):
    """Ask for a password reset and read the token from the mail queue."""
    response = r.world.api.call(reset_request(r, "setup"), f"{r.label}.reset")
    assert response.status == 202, f"setup: password reset request: {response.brief()}"
    tokens = r.world.mail.tokens(r.account.email, RESET_SUBJECT)
    assert len(tokens) == 1, f"setup: expected one reset mail to {r.account.email}, found {len(tokens)}"
    r.reset_token = tokens[0]


def social_id_token(r):
    """A provider account (subject, verified email) that has never signed in: its ID token."""
    r.subject = f"race-{secrets.token_hex(8)}"
    address = unique_address(r.label)
    r.id_token = r.world.provider.token(sub=r.subject, email=address, name=f"Social {r.label}"[:60])
    r.account = Account(None, address, None)


def social_account(r):
    """As social_id_token, then a first sign-in (not raced) that creates and links the account."""
    social_id_token(r)
    response = r.world.api.call(social_sign_in(r, "setup"), f"{r.label}.social")
    assert response.status == 200, f"setup: first social sign-in: {response.brief()}"
    r.sessions = [Tokens.of(response)]
    me = r.world.api.call(Request("GET", f"{API}/users/me", token=r.sessions[0].access), f"{r.label}.me")
    assert me.status == 200, f"setup: /users/me after social sign-in: {me.brief()}"
    r.account.id = me.json["id"]


# --- checks: round -> None (AssertionError says what broke) -------------------------------------------------------

def _me(r, tokens, what):
    return r.world.api.call(Request("GET", f"{API}/users/me", token=tokens.access), f"{r.label}.check-{what}")


def _refresh(r, tokens, what):
    return r.world.api.call(Request("POST", f"{API}/auth/refresh", {"refresh_token": tokens.refresh}),
                            f"{r.label}.check-{what}")


def sessions_ended(r):
    """No session outlives the change: no live session row, and every access and refresh token issued before or
    during the race (setup logins, racing logins, refreshes) answers 401."""
    if r.account.id is not None and r.world.db.scalar("SELECT COUNT(*) FROM users WHERE id = :id", id=r.account.id):
        live = r.world.db.live_sessions(r.account.id)
        assert live == 0, f"{live} session(s) of user {r.account.id} still live in the database (revoked_at NULL)"
    for index, tokens in enumerate(r.sessions + r.issued()):
        me = _me(r, tokens, f"me{index}")
        assert me.status == 401, f"token pair #{index}: an access token outlived the change: /users/me {me.brief()}"
    for index, tokens in enumerate(r.sessions + r.issued()):
        answer = _refresh(r, tokens, f"refresh{index}")
        assert answer.status == 401, f"token pair #{index}: a refresh token outlived the change: {answer.brief()}"


def issued_sessions_ended(r):
    """Sessions the racing operations were given (a login, a refresh) do not outlive the change either."""
    for index, tokens in enumerate(r.issued()):
        me = _me(r, tokens, f"issued{index}")
        assert me.status == 401, f"a session issued during the race outlived the change: /users/me {me.brief()}"
        answer = _refresh(r, tokens, f"issued-refresh{index}")
        assert answer.status == 401, f"a refresh token issued during the race outlived the change: {answer.brief()}"


def password_is(expected):
    """Exactly `expected(r)` logs in; the old password and every other password sent in the race do not."""
    def check(r):
        right = expected(r)
        candidates = [r.account.password, *r.ops_sent("password")]
        for candidate in dict.fromkeys(candidates):
            answer = r.world.api.call(Request("POST", f"{API}/auth/login",
                                              {"email": r.account.email, "password": candidate}), f"{r.label}.pw")
            which = "the original" if candidate == r.account.password else \
                "side " + next(s for (s, k), v in r.values.items() if k == "password" and v == candidate)
            if candidate == right:
                assert answer.status == 200, f"the password that must be stored ({which}) does not log in: " \
                                             f"{answer.brief()} (outcome {r.outcome})"
            else:
                assert answer.status == 401, f"{which} password still logs in (lost update; outcome {r.outcome}): " \
                                             f"{answer.status}"
    check.__name__ = "password_is"
    return check


def side_password(side):
    return lambda r: r.value(side, "password")


def password_of_winner(r):
    return r.value(r.winner(200), "password")


def password_if_changed(side):
    """`side`'s new password when it answered 200, else the original."""
    return lambda r: r.value(side, "password") if r.status(side) == 200 else r.account.password


def exactly_one_password_works(r):
    """Of the passwords the race sent, exactly one logs in (whichever committed last), the original does not."""
    works = []
    for candidate in [r.account.password, *r.ops_sent("password")]:
        answer = r.world.api.call(Request("POST", f"{API}/auth/login",
                                          {"email": r.account.email, "password": candidate}), f"{r.label}.pw")
        assert answer.status in (200, 401), f"login check: {answer.brief()}"
        works.append(answer.status == 200)
    assert works[0] is False, f"the original password still logs in (outcome {r.outcome})"
    assert sum(works) == 1, f"{sum(works)} of the race's new passwords log in (outcome {r.outcome})"
    if r.status("b") != 200:  # the password change lost: the reset's password is the stored one
        assert works[1 + r.ops_sent("password").index(r.value("a", "password"))], \
            f"the reset answered 204 and the change {r.status('b')}, yet the reset's password does not log in"


def deactivated(r):
    user = r.world.as_admin("GET", f"{API}/users/{r.account.id}", label=f"{r.label}.check-user")
    assert user.status == 200, f"GET /users/id: {user.brief()}"
    assert user.json["is_active"] is False, f"not deactivated: {user.brief()}"
    answer = r.world.api.call(Request("POST", f"{API}/auth/login",
                                      {"email": r.account.email, "password": r.account.password}), f"{r.label}.pw")
    assert answer.status == 401, f"a deactivated account logs in: {answer.brief()}"


def roles_are(*roles):
    def check(r):
        user = r.world.as_admin("GET", f"{API}/users/{r.account.id}", label=f"{r.label}.check-roles")
        assert user.status == 200, f"GET /users/id: {user.brief()}"
        assert set(user.json["roles"]) == set(roles), f"roles should be {sorted(roles)}: {user.brief()}"
    check.__name__ = "roles_are"
    return check


def roles_consistent(r):
    """Each role change that answered 200 answered the roles it set, and committed exactly one audit event (one that
    failed committed none); the audit trail is a chain (each change's `before` is the previous change's `after`:
    none was computed from a stale read) and the stored roles are the last change's `after`."""
    won = [side for side in SIDES if r.status(side) == 200]
    for side in won:
        sent, answered = set(r.response(side).request.json["roles"]), set(r.response(side).json["roles"])
        assert answered == sent, f"side {side} set {sorted(sent)} and answered {sorted(answered)}"
    user = r.world.as_admin("GET", f"{API}/users/{r.account.id}", label=f"{r.label}.check-roles")
    events = r.world.as_admin("GET", f"{API}/audit-events?user_id={r.account.id}&type=user.roles_changed&limit=10",
                              label=f"{r.label}.check-audit")
    assert user.status == 200, f"GET /users/id: {user.brief()}"
    assert events.status == 200, f"GET /audit-events: {events.brief()}"
    changes = [event["details"] for event in sorted(events.json["items"], key=lambda e: e["id"])]
    assert len(changes) == len(won), f"{len(won)} change(s) answered 200, {len(changes)} audited: {changes}"
    for earlier, later in itertools.pairwise(changes):
        assert set(earlier["after"]) == set(later["before"]), \
            f"lost update: a role change started from {later['before']}, not from {earlier['after']}"
    if changes:
        assert set(user.json["roles"]) == set(changes[-1]["after"]), \
            f"stored roles {user.json['roles']} are not the last change's {changes[-1]['after']}"


def name_is_winners(path):
    """The stored name is the one the 200 sent (no lost update), and the winner's ETag is the current one."""
    def check(r):
        side = r.winner(200)
        if path == "me":
            user = r.world.api.call(Request("GET", f"{API}/users/me", token=r.sessions[0].access),
                                    f"{r.label}.check-name")
        else:
            user = r.world.as_admin("GET", f"{API}/users/{r.account.id}", label=f"{r.label}.check-name")
        assert user.status == 200, user.brief()
        assert user.json["name"] == r.value(side, "name"), \
            f"lost update: the stored name is {user.json['name']!r}, the 200 (side {side}) set " \
            f"{r.value(side, 'name')!r}"
        stored = r.world.db.scalar("SELECT name FROM users WHERE id = :id", id=r.account.id)
        assert stored == r.value(side, "name"), f"the database holds {stored!r}"
        assert user.headers.get("etag") == r.response(side).headers.get("etag"), "the winner's ETag is not current"
    check.__name__ = "name_is_winners"
    return check


def deleted(r):
    """The account is gone with every row that hung on it; mailed tokens for it are dead; a new account gets a
    new id (never the deleted one) and does not inherit its audit trail."""
    gone = r.world.as_admin("GET", f"{API}/users/{r.account.id}", label=f"{r.label}.check-gone")
    assert gone.status == 404, f"user {r.account.id} exists after the delete (still, or its id was reused by a " \
                               f"new account): GET {gone.brief()}"
    left = r.world.db.user_rows(r.account.id)
    assert not left, f"rows of deleted user {r.account.id} remain: {left}"
    for subject, path, body in ((RESET_SUBJECT, "password-reset/confirm", {"new_password": new_password()}),
                                (VERIFY_SUBJECT, "verify-email", {})):
        for token in r.world.mail.tokens(r.account.email, subject):
            answer = r.world.api.call(Request("POST", f"{API}/auth/{path}", {"token": token, **body}),
                                      f"{r.label}.check-mailed")
            refused = answer.status == 400 and (answer.json or {}).get("type") == INVALID_TOKEN
            assert refused, f"a {subject!r} token mailed to the deleted account: POST /auth/{path} {answer.brief()}"
    probe = r.world.as_admin("POST", f"{API}/users", {"email": unique_address(f"probe.{r.label}"), "name": "Probe"},
                             label=f"{r.label}.probe")
    assert probe.status == 201, f"creating a probe account: {probe.brief()}"
    assert probe.json["id"] > r.account.id, \
        f"user id reused: an account created after deleting user {r.account.id} got id {probe.json['id']}"
    trail = r.world.as_admin("GET", f"{API}/audit-events?user_id={probe.json['id']}&limit=20",
                             label=f"{r.label}.probe-audit")
    assert trail.status == 200, trail.brief()
    types = [event["type"] for event in trail.json["items"]]
    assert types == ["user.registered"], f"the new account {probe.json['id']} inherited an audit trail: {types}"


def one_social_account(r):
    """Two first sign-ins with one ID token: one account, one link, and both sessions are that account's."""
    users = r.world.db.rows("SELECT id FROM users WHERE email = :email", email=r.account.email)
    assert len(users) == 1, f"{len(users)} accounts for {r.account.email}"
    links = r.world.db.rows("SELECT user_id FROM social_identities WHERE provider = 'test' AND subject = :sub",
                            sub=r.subject)
    assert [row[0] for row in links] == [users[0][0]], f"links for the subject: {links}, account {users[0][0]}"
    for index, tokens in enumerate(r.issued()):
        me = _me(r, tokens, f"social{index}")
        assert me.status == 200, f"session #{index}: /users/me {me.brief()}"
        assert me.json["id"] == users[0][0], f"session #{index} is user {me.json['id']}'s, not {users[0][0]}'s"


def social_after_delete(r):
    """A sign-in racing the deletion either lost its session with the account, or made a new account (a new id);
    the session from before the race died with the account."""
    me = _me(r, r.sessions[0], "setup-session")
    assert me.status == 401, f"the deleted account's session from before the race still works: {me.brief()}"
    for index, tokens in enumerate(r.issued()):
        me = _me(r, tokens, f"social{index}")
        assert me.status in (200, 401), f"/users/me: {me.brief()}"
        if me.status == 200:
            assert me.json["id"] != r.account.id, \
                f"a session of deleted user {r.account.id} works (or its id was reused by the new account)"
            assert me.json["id"] > r.account.id, f"the new account got id {me.json['id']} <= {r.account.id}"
    links = r.world.db.rows("SELECT user_id FROM social_identities WHERE provider = 'test' AND subject = :sub",
                            sub=r.subject)
    assert len(links) <= 1, f"{len(links)} links for one subject"


# --- the table ------------------------------------------------------------------------------------------------

def product(first, second):
    """Every (first, second) pair of allowed statuses."""
    return frozenset(itertools.product(first, second))


def one_winner(win, *lose):
    """Exactly one side answers `win`, the other one of `lose`."""
    return frozenset({(win, x) for x in lose} | {(x, win) for x in lose})


@dataclass(frozen=True)
class Pair:
    name: str
    setup: tuple  # setup steps, in order
    a: object  # operation of the first thread
    b: object  # operation of the second thread
    outcomes: frozenset  # allowed (status a, status b)
    checks: tuple = ()  # invariants, in order (database checks before logins that make new sessions)

    @property
    def slug(self):
        return "".join(c if c.isalnum() else "-" for c in self.name.lower()).strip("-")


PAIRS = [
    Pair("logout-all vs admin password change", (account(sessions=2),), logout_all(0), admin_password_change,
         product({204, 401}, {200}), (sessions_ended, password_is(side_password("b")))),
    Pair("logout-all vs deactivate", (account(sessions=2),), logout_all(0), deactivate,
         product({204, 401}, {200}), (sessions_ended, deactivated)),
    Pair("logout vs delete", (account(sessions=1),), logout(0), delete,
         product({204, 401}, {204}), (sessions_ended, deleted)),
    Pair("logout-all vs role removal", (account(sessions=2, roles=("user", "admin")),), logout_all(0),
         set_roles("user"), product({204, 401}, {200}), (sessions_ended, roles_are("user"))),
    Pair("logout-all vs self password change", (account(sessions=2),), logout_all(0), self_password_change(1),
         frozenset({(204, 200), (204, 401), (401, 200)}), (sessions_ended, password_is(password_if_changed("b")))),
    Pair("logout vs logout-all", (account(sessions=2),), logout(0), logout_all(1),
         product({204, 401}, {204}), (sessions_ended,)),
    Pair("login (old password) vs self password change", (account(sessions=1),), login_old_password,
         self_password_change(0), product({200, 401}, {200}), (sessions_ended, password_is(side_password("b")))),
    Pair("refresh vs self password change", (account(sessions=1),), refresh(0), self_password_change(0),
         product({200, 401}, {200}), (sessions_ended, password_is(side_password("b")))),
    Pair("refresh vs refresh (same token)", (account(sessions=1),), refresh(0), refresh(0),
         one_winner(200, 401), (sessions_ended,)),
    Pair("PATCH /users/me If-Match vs same", (account(sessions=2), etag_of_me), patch_me_if_match(0),
         patch_me_if_match(1), one_winner(200, 412), (name_is_winners("me"),)),
    Pair("PATCH /users/{id} If-Match vs same (admin)", (account(sessions=0), etag_of_user), patch_user_if_match,
         patch_user_if_match, one_winner(200, 412), (name_is_winners("admin"),)),
    Pair("self password change vs self password change", (account(sessions=2),), self_password_change(0),
         self_password_change(1), one_winner(200, 401, 403), (sessions_ended, password_is(password_of_winner))),
    Pair("password-reset request vs delete", (account(sessions=0),), reset_request, delete,
         product({202}, {204}), (deleted,)),
    Pair("password-reset confirm vs self password change", (account(sessions=1), mailed_reset_token), reset_confirm,
         self_password_change(0), frozenset({(204, 200), (204, 401), (204, 403), (400, 200)}),
         (sessions_ended, exactly_one_password_works)),
    Pair("password-reset confirm vs delete", (account(sessions=0), mailed_reset_token), reset_confirm, delete,
         product({204, 400}, {204}), (deleted,)),
    Pair("verify-email resend vs delete", (account(sessions=1),), verify_resend(0), delete,
         product({202, 401}, {204}), (sessions_ended, deleted)),
    Pair("social sign-in vs social sign-in (first, same token)", (social_id_token,), social_sign_in, social_sign_in,
         frozenset({(200, 200)}), (one_social_account,)),
    Pair("social sign-in vs delete", (social_account,), social_sign_in, delete,
         product({200, 401}, {204}), (social_after_delete, deleted)),
    Pair("deactivate vs login", (account(sessions=0),), deactivate, login_old_password,
         product({200}, {200, 401}), (sessions_ended, deactivated)),
    Pair("role change vs role change", (account(sessions=1),), set_roles("user", "admin"), set_roles("admin"),
         frozenset({(200, 200)}), (roles_consistent, sessions_ended)),
    Pair("admin PATCH vs delete", (account(sessions=1),), admin_rename, delete,
         product({200, 404}, {204}), (sessions_ended, deleted)),
    Pair("delete vs delete", (account(sessions=1),), delete, delete,
         one_winner(204, 404), (sessions_ended, deleted)),
]
