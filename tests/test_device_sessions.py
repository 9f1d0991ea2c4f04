"""Sessions and devices over HTTP (issue 15): the address and User-Agent a sign-in stores, the caller's list of live
sessions (`current`, the device summary, how each started), ending one, signing out the others, an admin's view of
any user's, and the opt-in mail about a sign-in from a new device, delivered to a real SMTP server."""
import datetime as dt

import pytest
import transaction
from sqlalchemy import select, update

from app.dependencies import resolve
from app.entities import AuditEvent, AuthSession, User
from app.entities.audit_event import USER_AGENT_MAX_LENGTH
from app.entities.scope import Scope
from app.extensions import db
from app.services.account_mail import subject_of
from app.services.personal_tokens import PersonalTokenService
from tests import test_mail
from tests.soft_authenticator import SoftAuthenticator

LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
ME = "/api/v1/users/me"
MINE = "/api/v1/users/me/sessions"
SIGN_OUT_OTHERS = MINE + "/sign-out-others"
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
FIREFOX_NEXT = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:134.0) Gecko/20100101 Firefox/134.0"
CHROME = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/131.0.0.0 Safari/537.36")
CURL = "curl/8.5.0"
SESSION_FIELDS = {"id", "created_at", "last_used_at", "ip_address", "user_agent", "device", "method", "acr",
                  "current"}
NOT_FOUND = "urn:gatehouse:problem:not-found"


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def sign_in(client, user, agent=None, address="192.0.2.10", status=200):
    """A password login from `agent` (a User-Agent, or none) at `address`: the response."""
    return client.post_json(LOGIN, {"email": user.email, "password": user.password},
                            headers={"User-Agent": agent} if agent else {},
                            extra_environ={"REMOTE_ADDR": address}, status=status)


def session_of(client, pair):
    """The id of the session of token response `pair` (the one the list marks current)."""
    items = client.get(MINE, headers=bearer(pair["access_token"])).json["items"]
    return next(item["id"] for item in items if item["current"])


def assert_dead(client, pair):
    client.get(ME, headers=bearer(pair["access_token"]), status=401)
    refused = client.post_json(REFRESH, {"refresh_token": pair["refresh_token"]}, status=401)
    assert refused.json["type"] == "urn:gatehouse:problem:invalid-refresh-token"


def assert_alive(client, pair):
    client.get(ME, headers=bearer(pair["access_token"]), status=200)


def stored_sessions(app, user_id):
    with app.app_context():
        try:
            return db.session.scalars(select(AuthSession).where(AuthSession.user_id == user_id)
                                      .order_by(AuthSession.id)).all()
        finally:
            transaction.abort()


def events(app, event_type, user_id):
    """(actor_id, details) of each `event_type` event of `user_id`, oldest first."""
    with app.app_context(), db.engine.connect() as conn:
        return [(row.actor_id, row.details) for row in conn.execute(
            select(AuditEvent.__table__).where(AuditEvent.type == event_type, AuditEvent.user_id == user_id)
            .order_by(AuditEvent.id))]


def change(app, statement):
    with app.app_context(), transaction.manager:
        db.session.execute(statement)


# --- what a sign-in stores ----------------------------------------------------------------------------------------

def test_a_sign_in_stores_the_client_address_and_user_agent(app, client, users):
    user = users.create()
    sign_in(client, user, FIREFOX, "203.0.113.7")
    sign_in(client, user, "x" * 1000, "2001:db8:1:2::7")
    first, second = stored_sessions(app, user.id)
    assert (first.ip_address, first.user_agent, first.method) == ("203.0.113.7", FIREFOX, "password")
    assert first.last_used_at == first.created_at
    assert second.ip_address == "2001:db8:1:2::7"
    assert second.user_agent == "x" * USER_AGENT_MAX_LENGTH  # cut to the column


def test_a_sign_in_without_a_user_agent_stores_none(app, client, users):
    user = users.create()
    sign_in(client, user)
    assert stored_sessions(app, user.id)[0].user_agent is None


# --- the caller's list --------------------------------------------------------------------------------------------

def test_the_list_shows_live_sessions_most_recently_used_first_with_their_device(app, client, users):
    user = users.create()
    firefox = sign_in(client, user, FIREFOX, "203.0.113.7").json
    chrome = sign_in(client, user, CHROME, "198.51.100.20").json
    ended, expired = sign_in(client, user, CURL).json, sign_in(client, user, CURL).json
    firefox_id, chrome_id, expired_id = (session_of(client, pair) for pair in (firefox, chrome, expired))
    client.post("/api/v1/auth/logout", headers=bearer(ended["access_token"]), status=204)
    change(app, update(AuthSession).where(AuthSession.id == expired_id)
           .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    # The Firefox session was last used a minute ago, the Chrome one (newer) an hour ago: the order is by last use.
    now = dt.datetime.now(dt.UTC)
    change(app, update(AuthSession).where(AuthSession.id == chrome_id).values(last_used_at=now - dt.timedelta(hours=1)))
    change(app, update(AuthSession).where(AuthSession.id == firefox_id)
           .values(last_used_at=now - dt.timedelta(minutes=1)))
    lister = sign_in(client, user, "an in-house script").json

    answer = client.get(MINE, headers=bearer(lister["access_token"]), status=200)
    assert answer.json["truncated"] is False
    items = answer.json["items"]
    assert [item["id"] for item in items[1:]] == [firefox_id, chrome_id]
    assert all(set(item) == SESSION_FIELDS for item in items)
    listed_self, listed_firefox, listed_chrome = items
    assert [item["current"] for item in items] == [True, False, False]
    assert (listed_self["user_agent"], listed_self["device"]) == ("an in-house script", None)
    assert listed_firefox["device"] == "Firefox 133 on Windows 10"
    assert listed_firefox["user_agent"] == FIREFOX
    assert listed_firefox["ip_address"] == "203.0.113.7"
    assert listed_chrome["device"] == "Chrome 131 on Mac OS X 10.15"
    assert {(item["method"], item["acr"]) for item in items} == {("password", "aal1")}
    assert dt.datetime.fromisoformat(listed_chrome["created_at"]).tzinfo is not None
    assert dt.datetime.fromisoformat(listed_firefox["last_used_at"]) > dt.datetime.fromisoformat(
        listed_chrome["last_used_at"])


def test_the_list_is_the_callers_own(client, users):
    user, other = users.create(), users.create()
    sign_in(client, other, FIREFOX)
    pair = sign_in(client, user).json
    items = client.get(MINE, headers=bearer(pair["access_token"])).json["items"]
    assert len(items) == 1
    assert (items[0]["user_agent"], items[0]["device"], items[0]["current"]) == (None, None, True)


def test_the_device_summary_of_a_command_line_client(client, users):
    user = users.create()
    pair = sign_in(client, user, CURL).json
    assert client.get(MINE, headers=bearer(pair["access_token"])).json["items"][0]["device"] == "curl 8.5"


def test_with_a_personal_access_token_no_session_is_current(app, client, users):
    user = users.create()
    sign_in(client, user, FIREFOX)
    with app.app_context():
        _token, secret = resolve(PersonalTokenService).create(
            user.id, "ci", [Scope.PROFILE_READ], dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
    items = client.get(MINE, headers=bearer(secret), status=200).json["items"]
    assert len(items) == 1
    assert items[0]["current"] is False


def test_a_passkey_sign_in_is_listed_as_a_passkey_session_of_class_aal2(app, client, users):
    user = users.create()
    pair = sign_in(client, user, FIREFOX).json
    authenticator = SoftAuthenticator(origin=app.config["WEBAUTHN_ORIGINS"][0])
    options = client.post("/api/v1/users/me/passkeys/options", headers=bearer(pair["access_token"])).json
    response, _credential = authenticator.create(options["public_key"])
    client.post_json("/api/v1/users/me/passkeys", {"ceremony": options["ceremony"], "name": "Laptop",
                                                   "credential": response},
                     headers=bearer(pair["access_token"]), status=201)
    options = client.post("/api/v1/auth/passkey/options").json
    passkey = client.post_json("/api/v1/auth/passkey", {"ceremony": options["ceremony"],
                                                        "credential": authenticator.get(options["public_key"])},
                               headers={"User-Agent": CHROME}, extra_environ={"REMOTE_ADDR": "198.51.100.20"}).json
    items = client.get(MINE, headers=bearer(passkey["access_token"])).json["items"]
    current = next(item for item in items if item["current"])
    assert (current["method"], current["acr"], current["device"]) == ("passkey", "aal2",
                                                                      "Chrome 131 on Mac OS X 10.15")
    assert current["ip_address"] == "198.51.100.20"


def test_a_sign_in_completed_with_a_second_factor_is_aal2_and_records_the_completing_client(
        app, client, users, monkeypatch):
    pyotp = pytest.importorskip("pyotp")
    user = users.create()
    pair = sign_in(client, user).json
    secret = client.post_json("/api/v1/users/me/mfa/totp", {}, headers=bearer(pair["access_token"])).json["secret"]
    client.post_json("/api/v1/users/me/mfa/totp/confirm", {"code": pyotp.TOTP(secret).now()},
                     headers=bearer(pair["access_token"]), status=200)
    pending = sign_in(client, user, FIREFOX, status=403).json
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)  # a code works once: the next step's
    monkeypatch.setattr("app.services.mfa.utcnow", lambda: later)
    done = client.post_json("/api/v1/auth/mfa", {"mfa_token": pending["mfa_token"],
                                                 "code": pyotp.TOTP(secret).at(later)},
                            headers={"User-Agent": CHROME}, extra_environ={"REMOTE_ADDR": "198.51.100.20"}).json
    items = client.get(MINE, headers=bearer(done["access_token"])).json["items"]
    current = next(item for item in items if item["current"])
    assert (current["method"], current["acr"]) == ("password", "aal2")
    assert (current["device"], current["ip_address"]) == ("Chrome 131 on Mac OS X 10.15", "198.51.100.20")


# --- ending one, signing out the others ---------------------------------------------------------------------------

def test_ending_one_session_kills_its_tokens_and_keeps_the_others(app, client, users):
    user = users.create()
    laptop, phone = sign_in(client, user, FIREFOX).json, sign_in(client, user, CHROME).json
    phone_id = session_of(client, phone)
    client.delete(f"{MINE}/{phone_id}", headers=bearer(laptop["access_token"]), status=204)
    assert_dead(client, phone)
    assert_alive(client, laptop)
    assert [item["id"] for item in client.get(MINE, headers=bearer(laptop["access_token"])).json["items"]] == [
        session_of(client, laptop)]
    assert events(app, "logout", user.id) == [(None, {"session_id": phone_id, "reason": "ended_by_user"})]
    again = client.delete(f"{MINE}/{phone_id}", headers=bearer(laptop["access_token"]), status=404)
    assert again.content_type == "application/problem+json"
    assert again.json["type"] == NOT_FOUND


def test_another_users_session_is_not_found_and_stays(client, users):
    user, other = users.create(), users.create()
    mine, theirs = sign_in(client, user).json, sign_in(client, other).json
    client.delete(f"{MINE}/{session_of(client, theirs)}", headers=bearer(mine["access_token"]), status=404)
    client.delete(f"{MINE}/9223372036854775807", headers=bearer(mine["access_token"]), status=404)
    assert_alive(client, theirs)


def test_ending_the_current_session_is_a_logout(client, users):
    user = users.create()
    pair = sign_in(client, user).json
    client.delete(f"{MINE}/{session_of(client, pair)}", headers=bearer(pair["access_token"]), status=204)
    assert_dead(client, pair)


def test_an_expired_session_cannot_be_ended_again(app, client, users):
    user = users.create()
    pair, old = sign_in(client, user).json, sign_in(client, user).json
    old_id = session_of(client, old)
    change(app, update(AuthSession).where(AuthSession.id == old_id)
           .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    client.delete(f"{MINE}/{old_id}", headers=bearer(pair["access_token"]), status=404)


def test_signing_out_the_others_keeps_only_the_current_session(app, client, users):
    user, other = users.create(), users.create()
    here = sign_in(client, user, FIREFOX).json
    elsewhere = [sign_in(client, user, agent).json for agent in (CHROME, CURL)]
    bystander = sign_in(client, other).json
    answer = client.post(SIGN_OUT_OTHERS, headers=bearer(here["access_token"]), status=200)
    assert answer.json == {"ended": 2}
    assert_alive(client, here)
    for pair in elsewhere:
        assert_dead(client, pair)
    assert_alive(client, bystander)
    assert client.post(SIGN_OUT_OTHERS, headers=bearer(here["access_token"])).json == {"ended": 0}
    recorded = events(app, "logout.all", user.id)
    assert recorded[0] == (None, {"reason": "signed_out_others", "sessions": 2,
                                  "kept_session_id": session_of(client, here)})


# --- admins -------------------------------------------------------------------------------------------------------

def test_an_admin_lists_and_ends_a_users_sessions(app, client, users, auth):
    admin, admin_headers = auth.admin()
    user = users.create()
    laptop, phone = sign_in(client, user, FIREFOX).json, sign_in(client, user, CHROME).json
    listed = client.get(f"/api/v1/users/{user.id}/sessions", headers=admin_headers, status=200).json["items"]
    assert {item["device"] for item in listed} == {"Firefox 133 on Windows 10", "Chrome 131 on Mac OS X 10.15"}
    assert not any(item["current"] for item in listed)
    phone_id = session_of(client, phone)
    client.delete(f"/api/v1/users/{user.id}/sessions/{phone_id}", headers=admin_headers, status=204)
    assert_dead(client, phone)
    assert_alive(client, laptop)
    assert events(app, "logout", user.id) == [(admin.id, {"session_id": phone_id, "reason": "ended_by_admin"})]
    client.delete(f"/api/v1/users/{user.id}/sessions/{phone_id}", headers=admin_headers, status=404)
    other = users.create()  # a session of someone else, named under this user: not found
    client.delete(f"/api/v1/users/{other.id}/sessions/{session_of(client, laptop)}", headers=admin_headers,
                  status=404)
    assert_alive(client, laptop)


def test_an_unknown_user_is_not_found_for_admins(client, auth):
    _admin, headers = auth.admin()
    missing = client.get("/api/v1/users/999999/sessions", headers=headers, status=404)
    assert missing.json["type"] == "urn:gatehouse:problem:user-not-found"
    client.delete("/api/v1/users/999999/sessions/1", headers=headers, status=404)


def test_users_cannot_see_or_end_each_others_sessions(client, users, auth):
    user, headers = auth.user()
    other = users.create()
    theirs = sign_in(client, other).json
    client.get(f"/api/v1/users/{other.id}/sessions", headers=headers, status=403)
    client.delete(f"/api/v1/users/{other.id}/sessions/{session_of(client, theirs)}", headers=headers, status=403)
    client.get(f"/api/v1/users/{user.id}/sessions", headers=headers, status=403)  # not even their own this way
    assert_alive(client, theirs)


# --- sign-in alerts -----------------------------------------------------------------------------------------------

mail_builder, smtp_server = test_mail.mailroom, test_mail.smtp_server  # fixtures (tests/test_mail.py)


@pytest.fixture
def mailroom(mail_builder):
    """An app whose mail queue is tmp_path/queue, delivering to a real SMTP server on 127.0.0.1 (test_mail's)."""
    return mail_builder()


NEW_SIGN_IN = subject_of("new_sign_in")


def alerts(room, user):
    """Deliver the queue; the bodies of the new sign-in notices it sent to `user`."""
    before = len(room.smtp.messages)
    assert room.deliver() == 0
    return [m.body for m in room.smtp.messages[before:]
            if m.message["Subject"] == NEW_SIGN_IN and m.rcpt_tos == (user.email,)]


def opt_in(room, user, enabled=True, agent=FIREFOX, address="192.0.2.10"):
    """Set the user's sign_in_alerts through PATCH /users/me, from a session of its own (the first sign-in)."""
    pair = sign_in(room.client, user, agent, address).json
    answer = room.client.patch_json(ME, {"sign_in_alerts": enabled}, headers=bearer(pair["access_token"]))
    assert answer.json["sign_in_alerts"] is enabled
    assert room.client.get(ME, headers=bearer(pair["access_token"])).json["sign_in_alerts"] is enabled
    return pair


def test_sign_in_alerts_are_off_until_asked_for(client, users, auth):
    _user, headers = auth.user()
    assert client.get(ME, headers=headers).json["sign_in_alerts"] is False
    client.patch_json(ME, {"sign_in_alerts": "yes"}, headers=headers, status=400)


def test_a_sign_in_from_a_new_device_mails_the_owner_who_asked_for_it(mailroom, users):
    user = users.create()
    opt_in(mailroom, user, agent=FIREFOX, address="192.0.2.10")
    assert alerts(mailroom, user) == []
    sign_in(mailroom.client, user, CHROME, "198.51.100.20")
    [body] = alerts(mailroom, user)
    assert "Chrome 131 on Mac OS X 10.15" in body
    assert "198.51.100.20" in body


def test_a_known_device_is_not_new_even_after_a_browser_update_or_on_another_address_of_its_network(
        mailroom, users):
    user = users.create()
    opt_in(mailroom, user, agent=FIREFOX, address="192.0.2.10")
    sign_in(mailroom.client, user, FIREFOX, "192.0.2.10")
    sign_in(mailroom.client, user, FIREFOX_NEXT, "192.0.2.99")  # same /24, Firefox updated
    assert alerts(mailroom, user) == []
    sign_in(mailroom.client, user, FIREFOX, "192.0.3.10")  # another network: new
    assert len(alerts(mailroom, user)) == 1


def test_no_alert_without_the_opt_in(mailroom, users):
    user = users.create()
    sign_in(mailroom.client, user, FIREFOX, "192.0.2.10")
    sign_in(mailroom.client, user, CHROME, "198.51.100.20")
    opted_out = users.create()
    opt_in(mailroom, opted_out, enabled=False)
    sign_in(mailroom.client, opted_out, CHROME, "198.51.100.20")
    assert alerts(mailroom, user) == alerts(mailroom, opted_out) == []


def test_the_first_sign_in_of_an_account_is_not_a_new_device(mailroom, users):
    user = users.create()
    change(mailroom.app, update(User).where(User.id == user.id).values(sign_in_alerts=True))
    sign_in(mailroom.client, user, FIREFOX, "192.0.2.10")
    assert alerts(mailroom, user) == []
    sign_in(mailroom.client, user, CHROME, "198.51.100.20")
    assert len(alerts(mailroom, user)) == 1
