"""Passkeys over HTTP (issue 14, WebAuthn Level 3): registration, usernameless sign-in, a passkey as the second factor
after a password, removal and step-up, and the responses a relying party must refuse (section 7: a ceremony answered
twice or too late, another origin, no user verification, a counter that does not grow, another user handle, a removed
credential). The browser and its authenticator are tests/soft_authenticator.py; tests/test_browser_passkeys.py does
the same with a real Chromium."""
import datetime as dt

import pytest
import transaction
from sqlalchemy import select, update

from app.dependencies import resolve
from app.entities import AuditEvent, AuthSession, User
from app.entities.second_factor import Passkey, WebAuthnCeremony
from app.extensions import db
from app.services.passkeys import PasskeyService
from app.services.ports import Transactions
from tests.soft_authenticator import SoftAuthenticator, b64url, unb64url
from tests.support import ApiClient

ME = "/api/v1/users/me"
LOGIN = "/api/v1/auth/login"
PASSKEYS = "/api/v1/users/me/passkeys"
REGISTRATION_OPTIONS = PASSKEYS + "/options"
SIGN_IN = "/api/v1/auth/passkey"
SIGN_IN_OPTIONS = SIGN_IN + "/options"
MFA = "/api/v1/auth/mfa/passkey"
MFA_OPTIONS = MFA + "/options"
PROBLEM = "urn:gatehouse:problem:"


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def login(client, user, status=200):
    return client.post_json(LOGIN, {"email": user.email, "password": user.password}, status=status)


@pytest.fixture
def authenticator(app):
    """A platform authenticator in a browser on the first origin the app accepts (WEBAUTHN_ORIGINS)."""
    return SoftAuthenticator(origin=app.config["WEBAUTHN_ORIGINS"][0])


@pytest.fixture
def member(client, users):
    """A user signed in with their password just now: (user, Authorization headers)."""
    user = users.create()
    return user, bearer(login(client, user).json["access_token"])


def register(client, headers, authenticator, name="Laptop", status=201, **create):
    """Run a registration ceremony; returns (the response to POST /users/me/passkeys, the authenticator's
    Credential). `create`: SoftAuthenticator.create's keywords (uv, up, origin, backed_up)."""
    options = client.post(REGISTRATION_OPTIONS, headers=headers).json
    response, credential = authenticator.create(options["public_key"], **create)
    answer = client.post_json(PASSKEYS, {"ceremony": options["ceremony"], "name": name, "credential": response},
                              headers=headers, status=status)
    return answer, credential


def sign_in(client, authenticator, status=200, **get):
    """Run a usernameless sign-in; returns the response to POST /auth/passkey. `get`: SoftAuthenticator.get's
    keywords (credential, uv, up, origin, sign_count, user_handle)."""
    options = client.post(SIGN_IN_OPTIONS).json
    assertion = authenticator.get(options["public_key"], **get)
    return client.post_json(SIGN_IN, {"ceremony": options["ceremony"], "credential": assertion}, status=status)


def latest_session(app, user_id):
    with app.app_context():
        return db.session.scalars(select(AuthSession).where(AuthSession.user_id == user_id)
                                  .order_by(AuthSession.id.desc())).first()


def stored_passkeys(app, user_id):
    with app.app_context():
        return db.session.scalars(select(Passkey).where(Passkey.user_id == user_id).order_by(Passkey.id)).all()


def audit_events(app, event_type):
    """(user_id, details) of each event of `event_type`, oldest first."""
    with app.app_context():
        return [(e.user_id, e.details) for e in db.session.scalars(
            select(AuditEvent).where(AuditEvent.type == event_type).order_by(AuditEvent.id))]


def change(app, statement):
    with app.app_context(), transaction.manager:
        db.session.execute(statement)


def age_sessions(app, user_id, seconds):
    """Make every session of `user_id` authenticated `seconds` ago."""
    change(app, update(AuthSession).where(AuthSession.user_id == user_id)
           .values(auth_time=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds)))


def expire_ceremonies(app):
    change(app, update(WebAuthnCeremony).values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))


def mfa_enabled(users, user):
    return users.get(user.id).mfa_enabled


# --- registration -------------------------------------------------------------------------------------------------

def test_registration_options_ask_for_a_discoverable_credential_with_user_verification(app, client, member,
                                                                                       authenticator):
    user, headers = member
    answer = client.post(REGISTRATION_OPTIONS, headers=headers)
    assert answer.headers["Cache-Control"] == "no-store"
    options = answer.json["public_key"]
    assert options["rp"] == {"id": app.config["WEBAUTHN_RP_ID"], "name": app.config["WEBAUTHN_RP_NAME"]}
    assert options["user"]["name"] == user.email
    assert options["user"]["displayName"] == user.name
    assert len(unb64url(options["user"]["id"])) == 32
    assert options["authenticatorSelection"] == {"residentKey": "required", "requireResidentKey": True,
                                                 "userVerification": "required"}
    assert options["attestation"] == "none"
    assert options["excludeCredentials"] == []
    assert {"type": "public-key", "alg": -7} in options["pubKeyCredParams"]
    assert options["timeout"] == app.config["WEBAUTHN_CEREMONY_TTL"] * 1000
    assert len(answer.json["ceremony"]) == 43

    _created, credential = register(client, headers, authenticator)
    again = client.post(REGISTRATION_OPTIONS, headers=headers).json["public_key"]
    # The account's passkeys are excluded, and the user handle stays the account's.
    assert again["excludeCredentials"] == [{"type": "public-key", "id": credential.id,
                                            "transports": ["internal", "hybrid"]}]
    assert unb64url(again["user"]["id"]) == credential.user_handle
    assert again["challenge"] != options["challenge"]


def test_a_registered_passkey_is_listed_and_becomes_the_accounts_second_factor(app, client, users, member,
                                                                               authenticator):
    user, headers = member
    assert mfa_enabled(users, user) is False
    created, credential = register(client, headers, authenticator, name="MacBook Touch ID", backed_up=True)
    body = created.json
    assert set(body) == {"id", "name", "created_at", "last_used_at", "backed_up"}
    assert body["name"] == "MacBook Touch ID"
    assert body["backed_up"] is True
    assert body["last_used_at"] is None
    assert created.headers["Location"].endswith(f"{PASSKEYS}/{body['id']}")
    assert client.get(PASSKEYS, headers=headers).json == {"items": [body]}
    assert mfa_enabled(users, user) is True
    [stored] = stored_passkeys(app, user.id)
    assert stored.credential_id == credential.credential_id
    assert stored.sign_count == 1
    assert stored.user_handle == b64url(credential.user_handle)
    assert stored.transports == "internal,hybrid"
    # The registration verified the user: this session counts as two-factor authenticated.
    assert latest_session(app, user.id).acr == "aal2"
    assert audit_events(app, "passkey.registered") == [
        (user.id, {"passkey_id": body["id"], "aaguid": "00000000-0000-0000-0000-000000000000", "backed_up": True})]
    # A second passkey gets the same user handle.
    register(client, headers, authenticator, name="Phone")
    assert {p.user_handle for p in stored_passkeys(app, user.id)} == {stored.user_handle}


@pytest.mark.parametrize(("create", "reason"), [
    ({"origin": "https://evil.example"}, "origin"),
    ({"uv": False}, "User verification is required"),
    ({"up": False}, "User presence was required"),
])
def test_a_registration_that_does_not_verify_is_refused(app, client, users, member, authenticator, create, reason):
    user, headers = member
    refused, _ = register(client, headers, authenticator, status=400, **create)
    assert refused.json["type"] == PROBLEM + "invalid-passkey-response"
    assert reason in refused.json["detail"]
    assert "credential" in refused.json["errors"]
    assert stored_passkeys(app, user.id) == []
    assert mfa_enabled(users, user) is False


def test_a_registration_ceremony_works_once_and_not_too_late(app, client, member, authenticator):
    user, headers = member
    options = client.post(REGISTRATION_OPTIONS, headers=headers).json
    good, _ = authenticator.create(options["public_key"])
    bad, _ = authenticator.create(options["public_key"], origin="https://evil.example")
    # A failed answer uses the ceremony up: the right answer is refused after it.
    for response in (bad, good):
        client.post_json(PASSKEYS, {"ceremony": options["ceremony"], "name": "x", "credential": response},
                         headers=headers, status=400)
    options = client.post(REGISTRATION_OPTIONS, headers=headers).json
    response, _ = authenticator.create(options["public_key"])
    body = {"ceremony": options["ceremony"], "name": "x", "credential": response}
    client.post_json(PASSKEYS, body, headers=headers, status=201)
    assert "ceremony" in client.post_json(PASSKEYS, body, headers=headers, status=400).json["detail"]
    options = client.post(REGISTRATION_OPTIONS, headers=headers).json
    response, _ = authenticator.create(options["public_key"])
    expire_ceremonies(app)
    client.post_json(PASSKEYS, {"ceremony": options["ceremony"], "name": "x", "credential": response},
                     headers=headers, status=400)
    assert len(stored_passkeys(app, user.id)) == 1
    with app.app_context():
        assert db.session.scalars(select(WebAuthnCeremony)).all() == []  # every ceremony answered is gone


def test_another_users_registration_ceremony_is_refused(app, client, users, member, authenticator):
    _user, headers = member
    other = users.create()
    options = client.post(REGISTRATION_OPTIONS, headers=bearer(login(client, other).json["access_token"])).json
    response, _ = authenticator.create(options["public_key"])
    client.post_json(PASSKEYS, {"ceremony": options["ceremony"], "name": "x", "credential": response},
                     headers=headers, status=400)
    assert stored_passkeys(app, other.id) == []


def test_a_credential_registered_already_is_refused(app, client, member, authenticator):
    user, headers = member
    options = client.post(REGISTRATION_OPTIONS, headers=headers).json
    response, _ = authenticator.create(options["public_key"])
    client.post_json(PASSKEYS, {"ceremony": options["ceremony"], "name": "x", "credential": response},
                     headers=headers, status=201)
    # The same attestation again, for a new ceremony (only the challenge in clientDataJSON changes).
    options = client.post(REGISTRATION_OPTIONS, headers=headers).json
    client_data = f'{{"type":"webauthn.create","challenge":"{options["public_key"]["challenge"]}",' \
                  f'"origin":"{authenticator.origin}","crossOrigin":false}}'
    replayed = {**response, "response": {**response["response"], "clientDataJSON": b64url(client_data.encode())}}
    refused = client.post_json(PASSKEYS, {"ceremony": options["ceremony"], "name": "x", "credential": replayed},
                               headers=headers, status=400)
    assert "registered already" in refused.json["detail"]
    assert len(stored_passkeys(app, user.id)) == 1


# --- usernameless sign-in -----------------------------------------------------------------------------------------

def test_a_passkey_signs_in_without_a_username_to_an_aal2_session(app, client, member, authenticator):
    user, headers = member
    register(client, headers, authenticator)
    options = client.post(SIGN_IN_OPTIONS)
    assert options.headers["Cache-Control"] == "no-store"
    assert options.json["public_key"]["allowCredentials"] == []
    assert options.json["public_key"]["userVerification"] == "required"
    assertion = authenticator.get(options.json["public_key"])
    answer = client.post_json(SIGN_IN, {"ceremony": options.json["ceremony"], "credential": assertion})
    assert answer.headers["Cache-Control"] == "no-store"
    tokens = answer.json
    assert tokens["token_type"] == "Bearer"
    assert tokens["refresh_token"]
    assert tokens["expires_in"] > 0
    assert client.get(ME, headers=bearer(tokens["access_token"])).json["id"] == user.id
    session = latest_session(app, user.id)
    assert (session.method, session.acr) == ("passkey", "aal2")
    [stored] = stored_passkeys(app, user.id)
    assert stored.sign_count == 2
    assert stored.last_used_at is not None
    assert client.get(PASSKEYS, headers=headers).json["items"][0]["last_used_at"] is not None
    assert audit_events(app, "login.succeeded")[-1] == (user.id, {"method": "passkey", "acr": "aal2"})
    # The ceremony worked once.
    again = client.post_json(SIGN_IN, {"ceremony": options.json["ceremony"], "credential": assertion}, status=401)
    assert again.json["type"] == PROBLEM + "invalid-passkey-response"
    assert again.headers["WWW-Authenticate"] == 'Bearer realm="gatehouse"'


def test_synced_passkeys_without_a_counter_sign_in_again_and_again(app, client, member):
    _user, headers = member
    synced = SoftAuthenticator(origin=app.config["WEBAUTHN_ORIGINS"][0], counter_step=0)
    register(client, headers, synced, backed_up=True)
    for _ in range(2):
        sign_in(client, synced, backed_up=True)


@pytest.mark.parametrize(("get", "reason"), [
    ({"origin": "https://evil.example"}, "origin"),
    ({"uv": False}, "User verification is required"),
    ({"up": False}, "User was not present"),
    ({"user_handle": b64url(b"\x07" * 32)}, "user handle"),
    ({"user_handle": ""}, "user handle"),  # a usernameless sign-in needs it (section 7.2 step 6)
])
def test_a_sign_in_that_does_not_verify_is_refused_and_audited(app, client, member, authenticator, get, reason):
    user, headers = member
    register(client, headers, authenticator)
    sessions = latest_session(app, user.id).id
    refused = sign_in(client, authenticator, status=401, **get)
    assert refused.json["type"] == PROBLEM + "invalid-passkey-response"
    assert reason in refused.json["detail"]
    assert latest_session(app, user.id).id == sessions  # no session started
    [(user_id, details)] = audit_events(app, "passkey.login_failed")
    assert user_id == user.id
    assert reason in details["reason"]
    with app.app_context():
        assert db.session.scalars(select(WebAuthnCeremony)).all() == []  # used up all the same


def test_a_signature_counter_that_does_not_grow_is_refused(app, client, member, authenticator):
    user, headers = member
    _, credential = register(client, headers, authenticator)  # counter 1
    sign_in(client, authenticator, sign_count=5)
    for count in (5, 3):  # the same count again, or one going backwards: a cloned authenticator
        refused = sign_in(client, authenticator, sign_count=count, status=401)
        assert "sign count" in refused.json["detail"]
    assert stored_passkeys(app, user.id)[0].sign_count == 5
    sign_in(client, authenticator, sign_count=6)


def test_an_expired_sign_in_ceremony_is_refused(app, client, member, authenticator):
    user, headers = member
    register(client, headers, authenticator)
    options = client.post(SIGN_IN_OPTIONS).json
    assertion = authenticator.get(options["public_key"])
    expire_ceremonies(app)
    client.post_json(SIGN_IN, {"ceremony": options["ceremony"], "credential": assertion}, status=401)
    assert audit_events(app, "login.succeeded")[-1:] == [(user.id, {"method": "password", "acr": "aal1"})]


def test_an_unknown_ceremony_is_refused_and_writes_nothing(app, client, member, authenticator):
    _user, headers = member
    register(client, headers, authenticator)
    options = client.post(SIGN_IN_OPTIONS).json
    assertion = authenticator.get(options["public_key"])
    refused = client.post_json(SIGN_IN, {"ceremony": b64url(b"\x00" * 32), "credential": assertion}, status=401)
    assert "ceremony" in refused.json["detail"]
    assert audit_events(app, "passkey.login_failed") == []
    with app.app_context():  # the real ceremony is still there
        assert len(db.session.scalars(select(WebAuthnCeremony)).all()) == 1


def test_an_inactive_account_cannot_sign_in_with_its_passkey(app, client, member, authenticator):
    user, headers = member
    register(client, headers, authenticator)
    change(app, update(User).where(User.id == user.id).values(is_active=False))
    sign_in(client, authenticator, status=401)
    assert [u for u, _ in audit_events(app, "passkey.login_failed")] == [user.id]


# --- removal ------------------------------------------------------------------------------------------------------

def test_a_removed_passkey_no_longer_signs_in(app, client, users, member, authenticator):
    user, headers = member
    created, _ = register(client, headers, authenticator)
    client.delete(f"{PASSKEYS}/{created.json['id']}", headers=headers, status=204)
    assert client.get(PASSKEYS, headers=headers).json == {"items": []}
    assert mfa_enabled(users, user) is False
    assert audit_events(app, "passkey.deleted") == [(user.id, {"passkey_id": created.json["id"]})]
    refused = sign_in(client, authenticator, status=401)
    assert "not registered" in refused.json["detail"]
    assert audit_events(app, "passkey.login_failed")[-1][0] is None  # the credential names no account any more
    client.delete(f"{PASSKEYS}/{created.json['id']}", headers=headers, status=404)


def test_another_users_passkey_is_not_found(app, client, users, member, authenticator):
    user, headers = member
    created, _ = register(client, headers, authenticator)
    other = users.create()
    other_headers = bearer(login(client, other).json["access_token"])
    refused = client.delete(f"{PASSKEYS}/{created.json['id']}", headers=other_headers, status=404)
    assert refused.json["type"] == PROBLEM + "not-found"
    assert client.get(PASSKEYS, headers=other_headers).json == {"items": []}
    assert len(stored_passkeys(app, user.id)) == 1


def test_adding_or_removing_a_passkey_needs_a_recent_sign_in(app, client, users, member, authenticator):
    user, headers = member
    created, _ = register(client, headers, authenticator)
    age_sessions(app, user.id, app.config["STEP_UP_MAX_AGE"] + 60)
    for refused in (client.post(REGISTRATION_OPTIONS, headers=headers, status=401),
                    client.delete(f"{PASSKEYS}/{created.json['id']}", headers=headers, status=401)):
        assert refused.json["type"] == PROBLEM + "insufficient-user-authentication"
        assert refused.json["acr_values"] == "aal2"  # the account has a second factor now
        assert 'error="insufficient_user_authentication"' in refused.headers["WWW-Authenticate"]
    assert len(stored_passkeys(app, user.id)) == 1
    # Signing in with the passkey is a fresh two-factor authentication.
    fresh = bearer(sign_in(client, authenticator).json["access_token"])
    client.delete(f"{PASSKEYS}/{created.json['id']}", headers=fresh, status=204)


# --- a passkey as the second factor -------------------------------------------------------------------------------

def test_a_passkey_is_the_second_factor_after_a_password(app, client, users, member, authenticator):
    user, headers = member
    _, credential = register(client, headers, authenticator)
    problem = login(client, user, status=403).json
    assert problem["type"] == PROBLEM + "mfa-required"
    assert "passkey" in problem["factors"]
    options = client.post_json(MFA_OPTIONS, {"mfa_token": problem["mfa_token"]})
    assert options.headers["Cache-Control"] == "no-store"
    public_key = options.json["public_key"]
    assert [c["id"] for c in public_key["allowCredentials"]] == [credential.id]
    assert public_key["userVerification"] == "required"
    assertion = authenticator.get(public_key)
    tokens = client.post_json(MFA, {"mfa_token": problem["mfa_token"], "ceremony": options.json["ceremony"],
                                    "credential": assertion}).json
    assert client.get(ME, headers=bearer(tokens["access_token"])).json["id"] == user.id
    session = latest_session(app, user.id)
    assert (session.method, session.acr) == ("password", "aal2")
    assert stored_passkeys(app, user.id)[0].sign_count == 2
    assert audit_events(app, "mfa.succeeded")[-1] == (user.id, {"factor": "passkey"})
    # The MFA token worked once.
    client.post_json(MFA_OPTIONS, {"mfa_token": problem["mfa_token"]}, status=401)


def test_a_wrong_passkey_answer_counts_against_the_mfa_token(app, client, users, member, authenticator):
    user, headers = member
    register(client, headers, authenticator)
    other, other_authenticator = users.create(), SoftAuthenticator(origin=authenticator.origin)
    register(client, bearer(login(client, other).json["access_token"]), other_authenticator)
    mfa_token = login(client, user, status=403).json["mfa_token"]

    def answer(respond, status):
        options = client.post_json(MFA_OPTIONS, {"mfa_token": mfa_token}).json
        return client.post_json(MFA, {"mfa_token": mfa_token, "ceremony": options["ceremony"],
                                      "credential": respond(options["public_key"])}, status=status)

    # Another account's passkey, a response without user verification, another origin: each counts.
    answer(lambda options: other_authenticator.get({**options, "allowCredentials": []}), 401)
    answer(lambda options: authenticator.get(options, uv=False), 401)
    refused = answer(lambda options: authenticator.get(options, origin="https://evil.example"), 401)
    assert refused.json["type"] == PROBLEM + "invalid-passkey-response"
    assert [d["attempts"] for _, d in audit_events(app, "mfa.failed")] == [1, 2, 3]
    # A ceremony of a usernameless sign-in is not one of this account's.
    options = client.post(SIGN_IN_OPTIONS).json
    client.post_json(MFA, {"mfa_token": mfa_token, "ceremony": options["ceremony"],
                           "credential": authenticator.get(options["public_key"])}, status=401)
    answer(lambda options: authenticator.get(options), 200)


def test_passkey_options_need_a_live_mfa_token(app, client, users, member, authenticator):
    user, headers = member
    refused = client.post_json(MFA_OPTIONS, {"mfa_token": "not.a.token"}, status=401)
    assert refused.json["type"] == PROBLEM + "invalid-mfa-token"
    # An account whose second factor is not a passkey has nothing to answer with.
    register(client, headers, authenticator)
    mfa_token = login(client, user, status=403).json["mfa_token"]
    client.delete(f"{PASSKEYS}/{stored_passkeys(app, user.id)[0].id}", headers=headers, status=204)
    assert client.post_json(MFA_OPTIONS, {"mfa_token": mfa_token}, status=409).json["type"] == \
        PROBLEM + "factor-state-conflict"


def test_an_admin_who_must_have_a_second_factor_may_enrol_a_passkey(make_app, users):
    app = make_app(REQUIRE_MFA_FOR_ADMINS=True)
    client = ApiClient(app)
    admin = users.admin()
    headers = bearer(login(client, admin).json["access_token"])
    client.get("/api/v1/users", headers=headers, status=403)
    client.get(PASSKEYS, headers=headers, status=200)
    register(client, headers, SoftAuthenticator(origin=app.config["WEBAUTHN_ORIGINS"][0]))
    client.get("/api/v1/users", headers=headers, status=200)


def test_check_assertion_proves_a_passkey_inside_a_unit_of_work(app, client, users, member, authenticator):
    """PasskeyService.check_assertion, the proof other use cases run in their own unit of work: the Passkey for a
    right answer (its counter moved), None otherwise; the ceremony is used up either way."""
    user, headers = member
    register(client, headers, authenticator)
    other = users.create()

    def check(user_id=None, **get):
        options = client.post(SIGN_IN_OPTIONS).json
        assertion = authenticator.get(options["public_key"], **get)

        def work(uow):
            if user_id is not None:
                uow.users.lock(user_id)
            passkey = resolve(PasskeyService).check_assertion(uow, options["ceremony"], assertion, user_id)
            return None if passkey is None else (passkey.user_id, passkey.sign_count)
        with app.app_context():
            return resolve(Transactions).run(work)

    assert check() == (user.id, 2)
    assert check(uv=False) is None
    # With a user: the ceremony must be one of that account's (a usernameless one is not), as must the passkey.
    assert check(user.id) is None
    assert check(other.id) is None
    with app.app_context():
        assert db.session.scalars(select(WebAuthnCeremony)).all() == []
