"""Second factors over HTTP (issue 14): TOTP enrolment and confirmation, sign-in with a TOTP or a recovery code,
replay and clock drift, attempts and rate limits, removal, an admin's reset, step-up (RFC 9470) for sensitive
operations, and REQUIRE_MFA_FOR_ADMINS. Every check drives the API as a client would, with pyotp as the
authenticator app."""
import datetime as dt
import email
import email.policy
import os
import re
import time

import pyotp
import pytest
import transaction
from sqlalchemy import func, select, update

from app.entities import AuditEvent, AuthSession
from app.entities.second_factor import MfaChallenge, RecoveryCode, TotpFactor
from app.extensions import db
from app.services.secret_box import SecretBox
from tests.support import DEFAULT_PASSWORD, ApiClient

ME = "/api/v1/users/me"
TOTP = "/api/v1/users/me/mfa/totp"
LOGIN = "/api/v1/auth/login"
MFA = "/api/v1/auth/mfa"
REAUTH = "/api/v1/auth/reauthenticate"
STEP = 30  # seconds: RFC 6238's default time step, what authenticator apps use


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def login(client, user, status=200):
    return client.post_json(LOGIN, {"email": user.email, "password": user.password}, status=status)


class Clock:
    """The server's clock in these tests (app/services/mfa.py's `utcnow`), moved by hand: codes of later steps
    without waiting 30 seconds for them. Starts at the real time."""

    def __init__(self):
        self.now = time.time()

    def __call__(self):
        return dt.datetime.fromtimestamp(self.now, dt.UTC)


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr("app.services.mfa.utcnow", clock)
    CLOCKS.append(clock)
    yield clock
    CLOCKS.remove(clock)


CLOCKS = []


def code_at(secret, offset_steps=0):
    """The TOTP code an authenticator app shows `offset_steps` steps from the server's now."""
    return pyotp.TOTP(secret).at(CLOCKS[-1].now + offset_steps * STEP)


def fresh_code(secret, used=None):
    """A code of the next time step (codes work once): the clock moves on by one step."""
    CLOCKS[-1].now += STEP
    return code_at(secret)


def enrol(client, user, headers=None):
    """Enrol and confirm TOTP for `user`; returns (secret, recovery codes, headers of the enrolling session)."""
    headers = headers or bearer(login(client, user).json["access_token"])
    enrolment = client.post_json(TOTP, {}, headers=headers, status=200).json
    codes = client.post_json(TOTP + "/confirm", {"code": code_at(enrolment["secret"])}, headers=headers).json
    return enrolment["secret"], codes["recovery_codes"], headers


def age_sessions(app, user_id, seconds):
    """Make every session of `user_id` authenticated `seconds` ago."""
    with app.app_context(), transaction.manager:
        db.session.execute(update(AuthSession).where(AuthSession.user_id == user_id).values(
            auth_time=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds)))


def audit_types(app, user_id):
    with app.app_context():
        return db.session.scalars(select(AuditEvent.type).where(AuditEvent.user_id == user_id)
                                  .order_by(AuditEvent.id)).all()


def queued_mail(app, address):
    """(subject, text/plain body) of each message queued for `address`, oldest first."""
    new = os.path.join(app.config["MAIL_QUEUE_PATH"], "new")
    found = []
    for name in sorted(os.listdir(new), key=lambda n: os.path.getmtime(os.path.join(new, n))):
        with open(os.path.join(new, name), "rb") as handle:
            message = email.message_from_binary_file(handle, policy=email.policy.default)
        if message["To"] == address:
            found.append((message["Subject"], message.get_body(preferencelist=("plain",)).get_content()))
    return found


# --- enrolment ---------------------------------------------------------------------------------------------------

def test_enrolment_answers_the_secret_its_uri_and_a_qr_code_and_activates_only_on_a_valid_code(app, client, users):
    user = users.create()
    headers = bearer(login(client, user).json["access_token"])
    enrolment = client.post_json(TOTP, {}, headers=headers, status=200)
    assert enrolment.headers["Cache-Control"] == "no-store"
    body = enrolment.json
    uri = pyotp.parse_uri(body["otpauth_uri"])
    assert uri.secret == body["secret"]
    assert uri.issuer == "Gatehouse"
    assert uri.name == user.email
    assert len(pyotp.utils.b32decode(body["secret"]) if hasattr(pyotp.utils, "b32decode") else
               __import__("base64").b32decode(body["secret"])) == 20  # 160 bits
    assert body["qr_svg"].startswith("<svg")
    assert "http://www.w3.org/2000/svg" in body["qr_svg"]
    # Not active yet: sign-ins are unchanged.
    assert client.get("/api/v1/users/me/mfa", headers=headers).json["enabled"] is False
    login(client, user)
    wrong = client.post_json(TOTP + "/confirm", {"code": "000000" if code_at(body["secret"]) != "000000"
                                                 else "111111"}, headers=headers, status=403)
    assert wrong.json["type"] == "urn:gatehouse:problem:invalid-second-factor"
    codes = client.post_json(TOTP + "/confirm", {"code": code_at(body["secret"])}, headers=headers).json
    assert len(codes["recovery_codes"]) == 10
    assert len(set(codes["recovery_codes"])) == 10
    assert all(re.fullmatch(r"[a-z2-7]{4}(-[a-z2-7]{4}){5}", c) for c in codes["recovery_codes"])
    status = client.get("/api/v1/users/me/mfa", headers=headers).json
    assert status == {"enabled": True, "totp": True, "passkeys": 0, "recovery_codes": 10}
    assert client.get(ME, headers=headers).json["mfa_enabled"] is True
    # Already active: a second enrolment is a conflict, and the secret is never shown again.
    assert client.post_json(TOTP, {}, headers=headers, status=409).json["type"].endswith("factor-state-conflict")
    assert "mfa.totp_enrolled" in audit_types(app, user.id)
    assert "mfa.recovery_codes_generated" in audit_types(app, user.id)


def test_secrets_are_encrypted_at_rest_and_recovery_codes_stored_as_digests(app, client, users):
    user = users.create()
    secret, codes, _ = enrol(client, user)
    with app.app_context():
        stored = db.session.scalars(select(TotpFactor.secret_ciphertext)).one()
        digests = db.session.scalars(select(RecoveryCode.code_digest)).all()
    assert secret not in stored
    assert secret.lower() not in stored.lower()
    assert len(digests) == 10
    assert not any(code.replace("-", "") in digests for code in codes)
    with app.app_context():
        assert SecretBox(app.config).decrypt(stored) == secret
    # After SECRET_KEY rotation with the old key kept in SECRET_KEY_FALLBACKS, the secret still decrypts.
    rotated = {"SECRET_KEY": "a-new-secret-key-" + "n" * 32, "SECRET_KEY_FALLBACKS": [app.config["SECRET_KEY"]]}
    assert SecretBox(rotated).decrypt(stored) == secret
    assert SecretBox(rotated).encrypt(secret) != stored


def test_enrolment_needs_a_recent_sign_in_or_the_current_password(app, client, users):
    user = users.create()
    headers = bearer(login(client, user).json["access_token"])
    age_sessions(app, user.id, 3600)
    stale = client.post_json(TOTP, {}, headers=headers, status=401)
    assert stale.json["type"] == "urn:gatehouse:problem:insufficient-user-authentication"
    challenge = stale.headers["WWW-Authenticate"]
    assert 'error="insufficient_user_authentication"' in challenge
    assert 'acr_values="aal1"' in challenge
    assert 'max_age="600"' in challenge
    assert stale.json["acr_values"] == "aal1"
    assert stale.json["max_age"] == 600
    wrong = client.post_json(TOTP, {"current_password": "not the password"}, headers=headers, status=403)
    assert wrong.json["type"] == "urn:gatehouse:problem:reauthentication-required"
    client.post_json(TOTP, {"current_password": DEFAULT_PASSWORD}, headers=headers, status=200)


def test_confirming_without_a_pending_enrolment_is_a_conflict(client, users):
    user = users.create()
    headers = bearer(login(client, user).json["access_token"])
    client.post_json(TOTP + "/confirm", {"code": "123456"}, headers=headers, status=409)


# --- sign-in with a second factor --------------------------------------------------------------------------------

def test_password_login_asks_for_the_second_factor_and_a_code_completes_it(app, client, users):
    user = users.create()
    secret, _codes, _ = enrol(client, user)
    used = {code_at(secret)}
    first = login(client, user, status=403)
    assert first.content_type == "application/problem+json"
    problem = first.json
    assert problem["type"] == "urn:gatehouse:problem:mfa-required"
    assert problem["expires_in"] == 300
    assert problem["factors"] == ["totp", "recovery_code"]
    assert "access_token" not in problem
    assert "refresh_token" not in problem
    tokens = client.post_json(MFA, {"mfa_token": problem["mfa_token"], "code": fresh_code(secret, used)}).json
    assert tokens["token_type"] == "Bearer"
    assert tokens["refresh_token"]
    assert client.get(ME, headers=bearer(tokens["access_token"])).json["id"] == user.id
    with app.app_context():
        assert db.session.scalars(select(AuthSession.acr).order_by(AuthSession.id.desc())).first() == "aal2"
    # The MFA token worked once.
    again = client.post_json(MFA, {"mfa_token": problem["mfa_token"], "code": fresh_code(secret, used)}, status=401)
    assert again.json["type"] == "urn:gatehouse:problem:invalid-mfa-token"
    assert audit_types(app, user.id)[-3:] == ["mfa.challenge_issued", "mfa.succeeded", "login.succeeded"]


def test_a_code_works_once_and_one_step_of_drift_is_accepted(app, client, users):
    user = users.create()
    secret, _codes, _ = enrol(client, user)  # used the current step's code
    token = login(client, user, status=403).json["mfa_token"]
    # Replay of the code just used for the confirmation: refused.
    assert client.post_json(MFA, {"mfa_token": token, "code": code_at(secret)}, status=401).json["type"] \
        == "urn:gatehouse:problem:invalid-second-factor"
    # Two steps away: refused either way.
    for offset in (-2, 2):
        client.post_json(MFA, {"mfa_token": token, "code": code_at(secret, offset)}, status=401)
    # One step ahead (a phone clock 30 s fast): accepted, once.
    client.post_json(MFA, {"mfa_token": token, "code": code_at(secret, 1)}, status=200)
    token = login(client, user, status=403).json["mfa_token"]
    client.post_json(MFA, {"mfa_token": token, "code": code_at(secret, 1)}, status=401)
    # ...and any step up to it is spent too (no code older than an accepted one works).
    client.post_json(MFA, {"mfa_token": token, "code": code_at(secret, 0)}, status=401)


def test_a_recovery_code_signs_in_once_and_is_audited_and_mailed(app, client, users):
    user = users.create()
    _secret, codes, _ = enrol(client, user)
    token = login(client, user, status=403).json["mfa_token"]
    typed = codes[3].upper().replace("-", " ")  # as someone might type it
    client.post_json(MFA, {"mfa_token": token, "code": typed}, status=200)
    assert "mfa.recovery_code_used" in audit_types(app, user.id)
    subject, body = queued_mail(app, user.email)[-1]
    assert subject == "A recovery code was used"
    assert "9 unused codes remain" in body
    assert codes[3] not in body
    token = login(client, user, status=403).json["mfa_token"]
    client.post_json(MFA, {"mfa_token": token, "code": codes[3]}, status=401)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(RecoveryCode)) == 9


def test_wrong_codes_end_the_mfa_token_after_the_allowed_attempts(app, client, users):
    user = users.create()
    secret, _codes, _ = enrol(client, user)
    token = login(client, user, status=403).json["mfa_token"]
    wrong = "aaaa-aaaa-aaaa-aaaa-aaaa-aaaa"
    for _ in range(4):
        assert client.post_json(MFA, {"mfa_token": token, "code": wrong}, status=401).json["type"] \
            == "urn:gatehouse:problem:invalid-second-factor"
    client.post_json(MFA, {"mfa_token": token, "code": wrong}, status=401)  # the fifth ends it
    ended = client.post_json(MFA, {"mfa_token": token, "code": code_at(secret, 1)}, status=401)
    assert ended.json["type"] == "urn:gatehouse:problem:invalid-mfa-token"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(MfaChallenge)) == 0
    assert audit_types(app, user.id).count("mfa.failed") == 5


def test_expired_forged_and_other_accounts_mfa_tokens_are_refused(app, client, users):
    user, other = users.create(), users.create()
    secret, _codes, _ = enrol(client, user)
    enrol(client, other)
    token = login(client, user, status=403).json["mfa_token"]
    client.post_json(MFA, {"mfa_token": token[:-2] + "xx", "code": code_at(secret, 1)}, status=401)
    client.post_json(MFA, {"mfa_token": "not-a-token", "code": code_at(secret, 1)}, status=401)
    with app.app_context(), transaction.manager:
        db.session.execute(update(MfaChallenge).values(expires_at=MfaChallenge.created_at))
    assert client.post_json(MFA, {"mfa_token": token, "code": code_at(secret, 1)}, status=401).json["type"] \
        == "urn:gatehouse:problem:invalid-mfa-token"


def test_second_factor_attempts_are_rate_limited_per_account(make_app, users):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_PER_ADDRESS="100/minute", RATELIMIT_PER_ACCOUNT="3/minute")
    client = ApiClient(app)
    user = users.create()
    secret, _codes, _ = enrol(client, user)
    wrong = "aaaa-aaaa-aaaa-aaaa-aaaa-aaaa"
    for n in range(3):  # a new MFA token each time: the account's limit follows across tokens and addresses
        token = login(client, user, status=403).json["mfa_token"]
        client.post_json(MFA, {"mfa_token": token, "code": wrong}, status=401,
                         extra_environ={"REMOTE_ADDR": f"10.0.2.{n}"})
    token = login(client, user, status=403).json["mfa_token"]  # mfa-required is not a failed login
    limited = client.post_json(MFA, {"mfa_token": token, "code": code_at(secret, 1)}, status=429,
                               extra_environ={"REMOTE_ADDR": "10.0.2.9"})
    assert int(limited.headers["Retry-After"]) >= 1


# --- removal and reset -------------------------------------------------------------------------------------------

def test_disabling_needs_a_recent_two_factor_session_and_a_current_code(app, client, users):
    user = users.create()
    secret, _codes, _ = enrol(client, user)
    used = {code_at(secret)}
    # A two-factor session that is too old: step up first.
    token = login(client, user, status=403).json["mfa_token"]
    headers = bearer(client.post_json(MFA, {"mfa_token": token, "code": fresh_code(secret, used)}).json["access_token"])
    age_sessions(app, user.id, 3600)
    stale = client.post_json(TOTP + "/disable", {"code": fresh_code(secret, used)}, headers=headers, status=401)
    assert 'acr_values="aal2"' in stale.headers["WWW-Authenticate"]
    # Re-authenticating with the password alone gives aal1: not enough for an account with a second factor.
    assert client.post_json(REAUTH, {"password": DEFAULT_PASSWORD}, headers=headers).json == {"acr": "aal1",
                                                                                              "max_age": 600}
    client.post_json(TOTP + "/disable", {"code": fresh_code(secret, used)}, headers=headers, status=401)
    assert client.post_json(REAUTH, {"password": DEFAULT_PASSWORD, "code": fresh_code(secret, used)},
                            headers=headers).json["acr"] == "aal2"
    client.post_json(TOTP + "/disable", {"code": "000000"}, headers=headers, status=403)
    client.post_json(TOTP + "/disable", {"code": fresh_code(secret, used)}, headers=headers, status=204)
    assert client.get("/api/v1/users/me/mfa", headers=headers).json == {
        "enabled": False, "totp": False, "passkeys": 0, "recovery_codes": 0}
    login(client, user, status=200)  # sign-ins no longer ask
    assert "mfa.totp_disabled" in audit_types(app, user.id)


def test_reauthentication_refuses_a_wrong_password_or_code(app, client, users):
    user = users.create()
    secret, _codes, headers = enrol(client, user)
    wrong = client.post_json(REAUTH, {"password": "not the password"}, headers=headers, status=403)
    assert wrong.json["type"] == "urn:gatehouse:problem:reauthentication-required"
    client.post_json(REAUTH, {"password": DEFAULT_PASSWORD, "code": "000000" if code_at(secret, 1) != "000000"
                              else "111111"}, headers=headers, status=403)
    types = audit_types(app, user.id)
    assert "login.failed" in types
    assert "mfa.failed" in types


def test_an_admin_resets_a_users_factors_audited_and_mailed(app, client, users, auth):
    user = users.create()
    _secret, _codes, user_headers = enrol(client, user)
    admin, admin_headers = auth.admin()
    client.delete(f"/api/v1/users/{user.id}/mfa", headers=bearer(login(client, user, status=403).json["mfa_token"]),
                  status=401)  # an MFA token is no access token
    client.delete(f"/api/v1/users/{user.id}/mfa", headers=user_headers, status=403)  # not an admin
    client.delete(f"/api/v1/users/{user.id}/mfa", headers=admin_headers, status=204)
    client.get(ME, headers=user_headers, status=401)  # signed out everywhere
    assert login(client, user).json["access_token"]  # no second factor asked any more
    with app.app_context():
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.type == "mfa.reset")).one()
        assert (event.user_id, event.actor_id, event.details["factors"]) == (user.id, admin.id, 1)
        assert db.session.scalar(select(func.count()).select_from(RecoveryCode)) == 0
    assert queued_mail(app, user.email)[-1][0] == "Your second factors were reset"
    client.delete("/api/v1/users/999999/mfa", headers=admin_headers, status=404)
    assert client.delete(f"/api/v1/users/{admin.id}/mfa", headers=admin_headers, status=409).json["type"] \
        == "urn:gatehouse:problem:self-lockout"


# --- step-up -----------------------------------------------------------------------------------------------------

def test_sensitive_operations_need_a_recent_authentication(app, client, users, auth):
    admin, admin_headers = auth.admin()
    target = users.create()
    age_sessions(app, admin.id, 601)
    for response in (
        client.patch_json(f"/api/v1/users/{target.id}", {"roles": ["user", "admin"]}, headers=admin_headers,
                          status=401),
        client.patch_json(f"/api/v1/users/{target.id}", {"email": "new@example.com"}, headers=admin_headers,
                          status=401),
        client.delete(f"/api/v1/users/{target.id}", headers=admin_headers, status=401),
        client.patch_json(ME, {"password": "a brand new password", "current_password": DEFAULT_PASSWORD},
                          headers=admin_headers, status=401),
    ):
        assert response.json["type"] == "urn:gatehouse:problem:insufficient-user-authentication"
        assert response.json["acr_values"] == "aal1"
    # Not sensitive: a name change goes through with an old session.
    client.patch_json(f"/api/v1/users/{target.id}", {"name": "Renamed"}, headers=admin_headers, status=200)
    assert users.get(target.id).roles == ["user"]
    client.post_json(REAUTH, {"password": DEFAULT_PASSWORD}, headers=admin_headers)
    client.patch_json(f"/api/v1/users/{target.id}", {"roles": ["user", "admin"]}, headers=admin_headers, status=200)
    assert "reauthenticated" in audit_types(app, admin.id)


def test_an_account_with_a_second_factor_needs_a_two_factor_step_up(app, client, users):
    user = users.create()
    secret, _codes, headers = enrol(client, user)  # confirming made this session aal2
    client.patch_json(ME, {"password": "a brand new password", "current_password": DEFAULT_PASSWORD}, headers=headers,
                      status=200)


# --- admins must have a second factor ----------------------------------------------------------------------------

def test_admins_without_a_second_factor_can_only_enrol_when_required(make_app, users):
    app = make_app(REQUIRE_MFA_FOR_ADMINS=True)
    client = ApiClient(app)
    admin = users.admin()
    headers = bearer(login(client, admin).json["access_token"])
    refused = client.get("/api/v1/users", headers=headers, status=403)
    assert refused.json["type"] == "urn:gatehouse:problem:mfa-enrolment-required"
    client.get(ME, headers=headers, status=200)
    client.get("/api/v1/users/me/mfa", headers=headers, status=200)
    secret, _codes, headers = enrol(client, admin, headers)
    client.get("/api/v1/users", headers=headers, status=200)
    # Plain users are not concerned.
    user = users.create()
    client.get("/api/v1/users", headers=bearer(login(client, user).json["access_token"]), status=200)


def test_production_requires_a_second_factor_for_admins_by_default():
    from app.configs import DevConfig, ProdConfig
    environ = {"SECRET_KEY": "s" * 40, "DATABASE_URL": "sqlite://", "WEBAUTHN_ORIGINS": "https://app.example.com",
               "WEBAUTHN_RP_ID": "example.com"}
    assert ProdConfig(environ).REQUIRE_MFA_FOR_ADMINS is True
    assert ProdConfig({**environ, "REQUIRE_MFA_FOR_ADMINS": "false"}).REQUIRE_MFA_FOR_ADMINS is False
    assert DevConfig({"SECRET_KEY": "s" * 40}).REQUIRE_MFA_FOR_ADMINS is False


# --- metrics -----------------------------------------------------------------------------------------------------

def test_mfa_events_are_counted_in_metrics(make_app, users):
    app = make_app()
    client = ApiClient(app)
    user = users.create()
    secret, _codes, _ = enrol(client, user)
    token = login(client, user, status=403).json["mfa_token"]
    client.post_json(MFA, {"mfa_token": token, "code": "000000" if code_at(secret, 1) != "000000" else "111111"},
                     status=401)
    client.post_json(MFA, {"mfa_token": token, "code": code_at(secret, 1)})
    registry = app.extensions["gatehouse.metrics"].registry
    for event_type in ("mfa.totp_enrolled", "mfa.challenge_issued", "mfa.failed", "mfa.succeeded"):
        assert registry.get_sample_value("gatehouse_security_events_total", {"type": event_type}) == 1, event_type


@pytest.mark.parametrize("path", [TOTP + "/confirm", TOTP + "/disable", MFA])
def test_codes_are_checked_for_shape(client, users, path):
    user = users.create()
    headers = bearer(login(client, user).json["access_token"])
    body = {"code": "12\n456"} if path != MFA else {"mfa_token": "x", "code": "12\n456"}
    assert "code" in client.post_json(path, body, headers=headers, status=400).json["errors"]


def test_purge_expired_deletes_expired_pending_sign_ins_only(app, client, users):
    user = users.create()
    enrol(client, user)
    for _ in range(2):  # two pending sign-ins; the first will have expired
        login(client, user, status=403)
    with app.app_context(), transaction.manager:
        first = db.session.scalars(select(MfaChallenge.id).order_by(MfaChallenge.id)).first()
        db.session.execute(update(MfaChallenge).where(MfaChallenge.id == first).values(
            expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    result = app.test_cli_runner().invoke(args=["purge-expired"])
    assert result.exit_code == 0, result.output
    assert "1 expired second-factor sign-in(s)" in result.output
    with app.app_context():
        remaining = db.session.scalars(select(MfaChallenge.id)).all()
    assert len(remaining) == 1
    assert first not in remaining


def test_a_secret_no_configured_key_decrypts_refuses_codes_but_recovery_codes_still_work(make_app, users, client):
    user = users.create()
    secret, codes, _ = enrol(client, user)
    rotated = ApiClient(make_app(SECRET_KEY="a-rotated-secret-key-without-fallback-" + "r" * 8))
    token = login(rotated, user, status=403).json["mfa_token"]
    assert rotated.post_json(MFA, {"mfa_token": token, "code": code_at(secret, 1)}, status=401).json["type"] \
        == "urn:gatehouse:problem:invalid-second-factor"
    rotated.post_json(MFA, {"mfa_token": token, "code": codes[0]}, status=200)
