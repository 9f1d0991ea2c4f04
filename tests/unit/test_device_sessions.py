"""Sessions-and-devices rules against the in-memory unit of work: a session stores its client, ending one is for
its owner (or an admin) and only while it is live, signing out the others keeps the current one, and the opt-in
new-device alert (a device is browser, OS and network; not for the first sign-in; only once tokens are issued)."""
import datetime as dt

import pyotp
import pytest

from app.entities import AuthSession, User
from app.errors import AccountGone, NotFound, SecondFactorRequired, UserNotFound
from app.services.account_mail import subject_of
from app.services.audit import ClientInfo
from app.services.auth import AuthService
from app.services.devices import describe, device_key, network
from app.services.mfa import MfaService
from app.services.ports import Transactions
from app.services.sessions import SessionService
from app.services.sign_in import SignInService
from app.services.users import UserService
from tests.unit.support import PASSWORD, live_sessions, register

FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
CHROME = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/131.0.0.0 Safari/537.36")
HOME = ClientInfo("192.0.2.10", FIREFOX)
TRAIN = ClientInfo("198.51.100.20", CHROME)
NEW_SIGN_IN = subject_of("new_sign_in")


def sign_in_from(services, client, email="ada@example.com"):
    return services.get(AuthService).login(email, PASSWORD, client)


def session_id(services, tokens):
    return services.get(SessionService).tokens.claims(tokens.access_token).session_id


def alerts(store, user):
    return [m for m in store.mail if m.to == user.email and m.subject == NEW_SIGN_IN]


def opt_in(services, user):
    services.get(UserService).update_me(user.id, sign_in_alerts=True)


# --- devices ------------------------------------------------------------------------------------------------------

def test_a_device_is_its_browser_and_os_families_and_its_network():
    assert describe(FIREFOX) == "Firefox 133 on Windows 10"
    assert describe("curl/8.5.0") == "curl 8.5"
    assert describe("an in-house script") is None
    assert describe(None) is None
    assert network("192.0.2.77") == "192.0.2.0/24"
    assert network("::ffff:192.0.2.77") == "192.0.2.0/24"
    assert network("2001:db8:1:2::7") == "2001:db8:1::/48"
    assert network("not an address") == "not an address"
    assert device_key("192.0.2.10", FIREFOX) == device_key("192.0.2.99", FIREFOX.replace("133.0", "134.0"))
    assert device_key("192.0.2.10", FIREFOX) != device_key("192.0.3.10", FIREFOX)
    assert device_key("192.0.2.10", FIREFOX) != device_key("192.0.2.10", CHROME)
    assert device_key("192.0.2.10", "script one") != device_key("192.0.2.10", "script two")


# --- what a session stores ----------------------------------------------------------------------------------------

def test_a_session_stores_where_it_started(services, store):
    user = register(services)
    sign_in_from(services, ClientInfo("203.0.113.7", "x" * 1000))
    [session] = store.all(AuthSession)
    assert (session.user_id, session.ip_address, session.user_agent) == (user.id, "203.0.113.7", "x" * 255)
    assert session.last_used_at == session.created_at


# --- ending one, signing out the others ---------------------------------------------------------------------------

def test_ending_a_session_is_for_its_owner_and_only_while_it_is_live(services, store):
    ada = register(services)
    bob = register(services, email="bob@example.com")
    first, second = sign_in_from(services, HOME), sign_in_from(services, TRAIN)
    bobs = sign_in_from(services, HOME, email="bob@example.com")
    sessions = services.get(SessionService)
    with pytest.raises(NotFound):
        sessions.end_one(ada.id, session_id(services, bobs))  # not hers
    sessions.end_one(ada.id, session_id(services, second))
    assert [s.id for s in live_sessions(store, ada.id)] == [session_id(services, first)]
    assert store.get(AuthSession, session_id(services, second)).revoke_reason == "ended_by_user"
    with pytest.raises(NotFound):
        sessions.end_one(ada.id, session_id(services, second))  # already ended
    assert len(live_sessions(store, bob.id)) == 1
    assert store.audit_types()[-1] == "logout"


def test_an_expired_session_is_not_live(services, store):
    ada = register(services)
    tokens = sign_in_from(services, HOME)
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    services.get(Transactions).run(lambda uow: setattr(uow.sessions.lock(session_id(services, tokens)),
                                                       "expires_at", past))
    with pytest.raises(NotFound):
        services.get(SessionService).end_one(ada.id, session_id(services, tokens))


def test_an_admin_ends_a_users_session_as_the_actor(services, store):
    admin = register(services, email="root@example.com", roles=["admin"])
    ada = register(services)
    tokens = sign_in_from(services, HOME)
    sessions = services.get(SessionService)
    sessions.end_one(ada.id, session_id(services, tokens), actor_id=admin.id, by_admin=True)
    assert store.get(AuthSession, session_id(services, tokens)).revoke_reason == "ended_by_admin"
    with pytest.raises(UserNotFound):
        sessions.end_one(999_999, 1, actor_id=admin.id, by_admin=True)
    with pytest.raises(AccountGone):
        sessions.end_one(999_999, 1)


def test_signing_out_the_others_keeps_the_current_session_only(services, store):
    ada = register(services)
    register(services, email="bob@example.com")
    here = sign_in_from(services, HOME)
    sign_in_from(services, TRAIN)
    sign_in_from(services, TRAIN)
    sign_in_from(services, HOME, email="bob@example.com")
    sessions = services.get(SessionService)
    assert sessions.end_others(ada.id, session_id(services, here)) == 2
    assert [s.id for s in live_sessions(store, ada.id)] == [session_id(services, here)]
    assert len([s for s in store.all(AuthSession) if s.revoked_at is None]) == 2  # Bob's stays
    assert sessions.end_others(ada.id, session_id(services, here)) == 0


# --- sign-in alerts -----------------------------------------------------------------------------------------------

def test_an_opted_in_account_is_mailed_about_a_new_device_only(services, store):
    ada = register(services)
    opt_in(services, ada)
    sign_in_from(services, HOME)  # the first sign-in: nothing to compare with
    sign_in_from(services, ClientInfo("192.0.2.99", FIREFOX))  # the same browser on the same network
    assert alerts(store, ada) == []
    sign_in_from(services, TRAIN)
    [alert] = alerts(store, ada)
    assert "Chrome 131 on Mac OS X 10.15" in alert.body
    assert "198.51.100.20" in alert.body
    sign_in_from(services, TRAIN)  # known now
    assert len(alerts(store, ada)) == 1


def test_no_alert_without_the_opt_in(services, store):
    ada = register(services)
    sign_in_from(services, HOME)
    sign_in_from(services, TRAIN)
    assert alerts(store, ada) == []
    assert store.get(User, ada.id).sign_in_alerts is False


def test_sessions_older_than_the_maximum_lifetime_are_forgotten(services, store, config):
    ada = register(services)
    opt_in(services, ada)
    sign_in_from(services, HOME)
    sign_in_from(services, TRAIN)
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=config["SESSION_MAX_LIFETIME"] + 60)

    home_sessions = [s.id for s in store.all(AuthSession) if s.user_agent == FIREFOX]

    def age(uow):
        uow.users.lock(ada.id)
        for home in home_sessions:
            uow.sessions.lock(home).last_used_at = long_ago
    services.get(Transactions).run(age)
    sign_in_from(services, HOME)  # home was last seen too long ago: new again
    assert len(alerts(store, ada)) == 2


def test_with_a_second_factor_the_alert_waits_for_it(services, store, monkeypatch):
    ada = register(services)
    opt_in(services, ada)
    tokens = sign_in_from(services, HOME)
    now = {"t": dt.datetime.now(dt.UTC)}
    monkeypatch.setattr("app.services.mfa.utcnow", lambda: now["t"])
    mfa = services.get(MfaService)
    enrolment = mfa.enrol_totp(store.get(User, ada.id), session_id(services, tokens))
    mfa.confirm_totp(ada.id, session_id(services, tokens), pyotp.TOTP(enrolment.secret).at(now["t"]))
    with pytest.raises(SecondFactorRequired) as pending:
        sign_in_from(services, TRAIN)
    assert alerts(store, ada) == []  # no tokens yet
    now["t"] += dt.timedelta(seconds=30)
    services.get(SignInService).complete(pending.value.extensions["mfa_token"],
                                         pyotp.TOTP(enrolment.secret).at(now["t"]), TRAIN)
    assert len(alerts(store, ada)) == 1
    assert store.all(AuthSession)[-1].ip_address == TRAIN.ip_address
