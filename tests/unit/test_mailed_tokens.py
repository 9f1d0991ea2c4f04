"""Password reset and email verification by mailed single-use tokens (OWASP Forgot Password Cheat Sheet) against
the in-memory unit of work."""
import pytest

from app.entities import OneTimeToken, TokenPurpose, User
from app.errors import DependencyUnavailable, InvalidOneTimeToken, ValidationFailed
from app.services import password_reset
from app.services.email_verification import EmailVerificationService
from app.services.password_reset import PasswordResetService
from app.services.users import UserService
from tests.unit.support import live_sessions, mailed_token, register, sign_in


@pytest.fixture(autouse=True)
def _no_response_floor(monkeypatch):
    monkeypatch.setattr(password_reset, "REQUEST_RESPONSE_FLOOR", 0)


def test_a_reset_for_an_unknown_address_mails_nothing_but_is_audited(services, store):
    services.get(PasswordResetService).request("nobody@example.com")
    assert store.mail == []
    assert store.audit_types() == ["password.reset_requested"]


def test_a_confirmed_reset_sets_the_password_verifies_the_email_and_ends_every_session(services, store):
    user = register(services)
    sign_in(services)
    resets = services.get(PasswordResetService)
    resets.request("ADA@example.com")
    token = mailed_token(store, "ada@example.com")

    with pytest.raises(ValidationFailed):
        resets.confirm(token, "password")  # refused by the policy: the whole unit of work is undone...
    resets.confirm(token, "a brand new passphrase")  # ...so the token still works once
    with pytest.raises(InvalidOneTimeToken):
        resets.confirm(token, "another new passphrase")

    stored = store.get(User, user.id)
    assert stored.email_verified
    assert stored.token_version == user.token_version + 1
    assert live_sessions(store, user.id) == []
    sign_in(services, password="a brand new passphrase")


def test_a_newer_reset_token_supersedes_the_older_one(services, store):
    register(services)
    resets = services.get(PasswordResetService)
    resets.request("ada@example.com")
    older = mailed_token(store, "ada@example.com")
    resets.request("ada@example.com")
    with pytest.raises(InvalidOneTimeToken):
        resets.confirm(older, "a brand new passphrase")
    resets.confirm(mailed_token(store, "ada@example.com"), "a brand new passphrase")


def test_a_reset_whose_mail_cannot_be_queued_answers_the_same_and_issues_no_token(services, store):
    register(services)
    resets = services.get(PasswordResetService)
    resets.mail.password_reset = _unavailable
    resets.request("ada@example.com")  # no error: an unknown address would not have one either
    assert [m.subject for m in store.mail] == ["Confirm your email address"]  # the registration's only
    assert [t for t in store.all(OneTimeToken) if t.purpose == TokenPurpose.RESET_PASSWORD] == []
    assert store.audit_types()[-1] == "password.reset_requested"


def _unavailable(_user, _token):
    raise DependencyUnavailable("mail queue down")


def test_verifying_the_email_needs_the_token_sent_to_the_current_address(services, store):
    admin = register(services, email="root@example.com", roles=["admin"])
    user = register(services)
    token = mailed_token(store, "ada@example.com")
    services.get(UserService).update(admin.id, user.id, email="ada@elsewhere.example")
    verification = services.get(EmailVerificationService)
    with pytest.raises(InvalidOneTimeToken):
        verification.verify(token)  # sent to the old address
    assert verification.resend(user.id) is True
    verification.verify(mailed_token(store, "ada@elsewhere.example"))
    assert store.get(User, user.id).email_verified
    assert verification.resend(user.id) is False  # verified: nothing more to send
