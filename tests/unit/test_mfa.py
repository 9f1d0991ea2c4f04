"""The second-factor rules without Flask or a database: a sign-in of an account with a factor gives no tokens until
the factor is proven; a TOTP code works once within one step of drift; a recovery code works once; wrong codes end
the MFA token; an admin's reset removes every factor and signs the user out."""
import datetime as dt

import pyotp
import pytest

from app.entities import AuthSession
from app.entities.second_factor import MfaChallenge, RecoveryCode, TotpFactor
from app.errors import InvalidMfaToken, InvalidSecondFactor, SecondFactorRequired
from app.services.mfa import MfaService
from app.services.secret_box import SecretBox
from app.services.sign_in import SignInService
from tests.unit.support import register, sign_in

STEP = 30


@pytest.fixture
def clock(monkeypatch):
    now = {"t": dt.datetime.now(dt.UTC)}
    monkeypatch.setattr("app.services.mfa.utcnow", lambda: now["t"])
    return now


@pytest.fixture
def enrolled(services, store, clock):
    """An account with an active TOTP factor: (user, secret, recovery codes)."""
    user = register(services)
    tokens = sign_in(services)
    session_id = services.get(SignInService).sessions.tokens.claims(tokens.access_token).session_id
    mfa = services.get(MfaService)
    row = store.get(type(user), user.id)
    enrolment = mfa.enrol_totp(row, session_id)
    codes = mfa.confirm_totp(user.id, session_id, _code(enrolment.secret, clock))
    return user, enrolment.secret, codes


def _code(secret, clock, steps=0):
    return pyotp.TOTP(secret).at(clock["t"] + dt.timedelta(seconds=steps * STEP))


def _mfa_token(services):
    with pytest.raises(SecondFactorRequired) as raised:
        sign_in(services)
    return raised.value.extensions["mfa_token"]


def test_the_seed_is_stored_encrypted(services, store, enrolled):
    _user, secret, _codes = enrolled
    stored = store.all(TotpFactor)[0].secret_ciphertext
    assert secret not in stored
    assert services.get(SecretBox).decrypt(stored) == secret


def test_no_tokens_before_the_second_factor_and_a_code_works_once(services, store, enrolled, clock):
    user, secret, _codes = enrolled
    sessions_before = len(store.all(AuthSession))
    token = _mfa_token(services)
    assert len(store.all(AuthSession)) == sessions_before  # no session, no tokens yet
    sign_ins = services.get(SignInService)
    with pytest.raises(InvalidSecondFactor):  # the confirmation's code again
        sign_ins.complete(token, _code(secret, clock))
    tokens = sign_ins.complete(token, _code(secret, clock, 1))
    assert tokens.access_token
    assert store.all(AuthSession)[-1].acr == "aal2"
    with pytest.raises(InvalidMfaToken):
        sign_ins.complete(token, _code(secret, clock, 1))


def test_drift_of_one_step_only(services, enrolled, clock):
    _user, secret, _codes = enrolled  # the confirmation spent the code of the current step
    token = _mfa_token(services)
    sign_ins = services.get(SignInService)
    clock["t"] += dt.timedelta(seconds=2 * STEP)
    for steps in (-2, 2):  # a minute off either way: refused
        with pytest.raises(InvalidSecondFactor):
            sign_ins.complete(token, _code(secret, clock, steps))
    # A phone 30 seconds slow shows the previous step's code: accepted.
    assert sign_ins.complete(token, _code(secret, clock, -1)).access_token


def test_a_recovery_code_works_once_and_mails_the_owner(services, store, enrolled):
    user, _secret, codes = enrolled
    sign_ins = services.get(SignInService)
    sign_ins.complete(_mfa_token(services), codes[0])
    assert len(store.all(RecoveryCode)) == 9
    assert store.mail[-1].to == user.email
    assert store.mail[-1].subject == "A recovery code was used"
    with pytest.raises(InvalidSecondFactor):
        sign_ins.complete(_mfa_token(services), codes[0])


def test_wrong_codes_end_the_mfa_token(services, store, enrolled, config):
    token = _mfa_token(services)
    sign_ins = services.get(SignInService)
    for _ in range(config["MFA_MAX_ATTEMPTS"]):
        with pytest.raises(InvalidSecondFactor):
            sign_ins.complete(token, "aaaa-aaaa-aaaa-aaaa-aaaa-aaaa")
    assert store.all(MfaChallenge) == []
    with pytest.raises(InvalidMfaToken):
        sign_ins.complete(token, "123456")


def test_an_admin_reset_removes_every_factor_and_signs_the_user_out(services, store, enrolled):
    user, _secret, _codes = enrolled
    assert services.get(MfaService).reset(actor_id=999, user_id=user.id) == 1
    assert store.all(TotpFactor) == []
    assert store.all(RecoveryCode) == []
    assert all(session.revoked_at is not None for session in store.all(AuthSession))
    assert sign_in(services).access_token  # no second factor asked any more
    assert store.mail[-1].subject == "Your second factors were reset"
