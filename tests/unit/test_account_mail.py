"""The account messages as AccountMail renders them from app/templates/mail/ (no app, no queue): every message has a
constant subject, a plain-text body and an HTML alternative; HTML escapes what users and clients chose; the notices
that no endpoint sends yet (`token_created`, `new_sign_in`) say what they must. Delivery of the wired notices is
tested end to end in tests/test_security_mail.py."""
import datetime as dt
import pathlib
from types import SimpleNamespace

import pytest

from app.services.account_mail import AccountMail, subject_of
from app.services.audit import ClientInfo

TEMPLATES = pathlib.Path(__file__).parents[2] / "app" / "templates" / "mail"
MESSAGES = sorted(path.stem for path in TEMPLATES.glob("*.txt") if not path.name.startswith("_"))
CEST = dt.timezone(dt.timedelta(hours=2))


@pytest.fixture
def mail(config):
    return AccountMail(config)


@pytest.fixture
def user():
    return SimpleNamespace(email="ada@example.com", name="Ada <b>Lovelace</b>", mfa_enabled=False)


def test_every_message_has_a_text_and_an_html_template_and_a_constant_subject():
    assert {"verification", "password_reset", "password_changed", "password_reset_done", "email_changed_old_address",
            "email_changed_new_address", "totp_enabled", "totp_disabled", "recovery_codes_regenerated",
            "recovery_code_used", "passkey_added", "passkey_removed", "factors_reset", "token_created",
            "new_sign_in"} <= set(MESSAGES)
    for name in MESSAGES:
        assert (TEMPLATES / f"{name}.html").is_file(), name
        subject = subject_of(name)
        assert subject, name
        assert subject == subject.strip(), name
        assert "{" not in subject, name
    assert len({subject_of(name) for name in MESSAGES}) == len(MESSAGES)  # each says which event it is


def test_token_created_names_the_token_its_scopes_and_expiry_in_utc(mail, user):
    scopes = (scope for scope in ["users:read", "audit:read"])  # any iterable, read once
    message = mail.token_created(user, "deploy bot", scopes, dt.datetime(2026, 3, 1, 12, 30, tzinfo=CEST),
                                 ClientInfo("192.0.2.44", "curl/8.5.0"))

    assert (message.to, message.subject) == ("ada@example.com", "A personal access token was created for your account")
    assert message.body.startswith("Hello Ada <b>Lovelace</b>,\n\n")
    assert ('A personal access token named "deploy bot" was created for your Gatehouse account, with the scopes '
            "users:read, audit:read, expiring 2026-03-01 10:30:00 UTC.") in message.body
    assert "revoke the token and change your password" in message.body
    assert "IP address: 192.0.2.44\n" in message.body
    assert "Device: curl/8.5.0\n" in message.body
    assert "<code>users:read</code>, <code>audit:read</code>" in message.html
    assert "2026-03-01 10:30:00 UTC" in message.html
    assert "192.0.2.44" in message.html
    assert "revoke the token and change your password" in message.html
    assert "Ada &lt;b&gt;Lovelace&lt;/b&gt;" in message.html
    assert "<b>Lovelace" not in message.html


def test_token_created_escapes_a_hostile_name_and_says_when_nothing_limits_it(mail, user):
    message = mail.token_created(user, '<script>alert("x")</script>', [], None)
    assert "with no scopes, with no expiry" in message.body
    assert '"<script>alert("x")</script>"' in message.body  # plain text is shown as typed
    assert "<script" not in message.html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in message.html
    with pytest.raises(ValueError, match="naive"):
        mail.token_created(user, "bot", ["users:read"], dt.datetime(2026, 3, 1, 12, 30))


def test_new_sign_in_says_from_what_where_and_when(mail, user):
    message = mail.new_sign_in(user, dt.datetime(2026, 1, 31, 23, 5, 9, tzinfo=CEST), "198.51.100.23",
                               "Firefox 133 on Windows")

    assert (message.to, message.subject) == ("ada@example.com", "New sign-in to your account")
    assert ("There was a new sign-in to your Gatehouse account from Firefox 133 on Windows at 198.51.100.23 on "
            "2026-01-31 21:05:09 UTC.") in message.body
    assert "change your password at once" in message.body
    assert "<strong>Firefox 133 on Windows</strong>" in message.html
    assert "<strong>198.51.100.23</strong>" in message.html
    assert "2026-01-31 21:05:09 UTC" in message.html


def test_new_sign_in_without_an_address_or_a_device_says_unknown(mail, user):
    message = mail.new_sign_in(user, dt.datetime(2026, 1, 31, 21, 5, 9, tzinfo=dt.UTC), None, None)
    assert "from an unknown device at an unknown address on 2026-01-31 21:05:09 UTC" in message.body
    assert "an unknown device" in message.html
    assert "an unknown address" in message.html
    with pytest.raises(ValueError, match="naive"):
        mail.new_sign_in(user, dt.datetime(2026, 1, 31, 21, 5, 9), None, None)


def test_client_text_is_cut_and_its_control_characters_replaced(mail, user):
    agent = "Evil\x1b[2J\r\nBcc: victim@example.com " + "x" * 500
    message = mail.password_changed(user, ClientInfo("192.0.2.1", agent))
    [line] = [line for line in message.body.splitlines() if line.startswith("Device: ")]
    assert "\x1b" not in line
    assert "Bcc" in line
    assert len(line) == len("Device: ") + 200
    assert "\x1b" not in message.html
    assert "\r" not in message.html


def test_an_admins_change_shows_no_address(mail, user):
    admin = ClientInfo("198.51.100.9", "AdminConsole/2.0")
    for message in (mail.password_changed(user, admin, by_admin=True),
                    mail.email_changed_old_address(user, "old@example.com", admin, by_admin=True),
                    mail.email_changed_new_address(user, admin, by_admin=True)):
        assert "198.51.100.9" not in message.body + message.html
        assert "AdminConsole" not in message.body + message.html
        assert "administrator" in message.body


def test_the_mailed_tokens_carry_the_token_in_both_parts(mail, user):
    message = mail.verification(user, "tok_en-123")
    assert "\nToken: tok_en-123\n" in message.body
    assert "<code style=\"font-size: 14px;\">tok_en-123</code>" in message.html
    message = mail.password_reset(user, "tok_en-456")
    assert "\nToken: tok_en-456\n" in message.body
    assert "tok_en-456" in message.html
