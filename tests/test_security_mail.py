"""Security notices (OWASP ASVS 5.0 6.3.7: users are notified after updates to authentication details), end to end:
each change made through the API queues its notice in the change's own unit of work, the app's queue delivers it to
a real SMTP server (aiosmtpd, tests/smtp_server.py), and the message that arrives goes to the right address with the
right subject, as multipart/alternative (text/plain, then text/html, both UTF-8), says when and from where (not an
administrator's address), and carries no secret. A change that fails after its notice was queued sends nothing.

The rendering of every template, and of the notices no endpoint sends yet, is tested in tests/unit/test_account_mail.py.
"""
import datetime as dt
import os
import re
import time

import pyotp
import pytest

from app.repositories import SqlAuditEventRepository
from app.services.account_mail import RESET_SUBJECT, VERIFY_SUBJECT
from app.services.passwords import PasswordService
from tests import test_mail
from tests.smtp_server import HOST
from tests.soft_authenticator import SoftAuthenticator
from tests.support import DEFAULT_PASSWORD
from tests.test_mail import SENDER, Mailroom, token_in

ME = "/api/v1/users/me"
TOTP = "/api/v1/users/me/mfa/totp"
RECOVERY_CODES = "/api/v1/users/me/mfa/recovery-codes"
PASSKEYS = "/api/v1/users/me/passkeys"
NEW_PASSWORD = "a brand new passphrase"
CLIENT_IP, USER_AGENT = "203.0.113.7", "NoticeTest/1.0 (X11; Linux x86_64)"
ADMIN_IP, ADMIN_AGENT = "198.51.100.9", "AdminConsole/2.0"

PASSWORD_CHANGED = "Your password was changed"
PASSWORD_RESET_DONE = "Your password was reset"
EMAIL_CHANGED_OLD = "The email address of your account was changed"
EMAIL_CHANGED_NEW = "This is now the email address of your account"
TOTP_ADDED = "An authenticator app was added to your account"
TOTP_REMOVED = "An authenticator app was removed from your account"
CODES_REGENERATED = "New recovery codes were made for your account"
PASSKEY_ADDED = "A passkey was added to your account"
PASSKEY_REMOVED = "A passkey was removed from your account"


mail_builder, smtp_server = test_mail.mailroom, test_mail.smtp_server  # fixtures (tests/test_mail.py)


@pytest.fixture
def room(mail_builder):
    """An app whose mail queue is tmp_path/queue, delivering to a real SMTP server on 127.0.0.1 (test_mail's)."""
    return mail_builder()


class Clock:
    """The clock of app/services/mfa.py, moved by hand: a fresh TOTP code without waiting 30 seconds for it."""

    def __init__(self):
        self.now = time.time()

    def __call__(self):
        return dt.datetime.fromtimestamp(self.now, dt.UTC)

    def code(self, secret):
        return pyotp.TOTP(secret).at(self.now)

    def fresh_code(self, secret):
        """A code of the next time step (a code works once)."""
        self.now += 30
        return self.code(secret)


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr("app.services.mfa.utcnow", clock)
    return clock


def from_client(headers, ip=CLIENT_IP, user_agent=USER_AGENT):
    """WebTest keywords of a request from `ip` with `user_agent`, authorized by `headers`."""
    return {"headers": {**headers, "User-Agent": user_agent}, "extra_environ": {"REMOTE_ADDR": ip}}


def delivered(room):
    """Deliver the queue; the messages the SMTP server accepted in this delivery (a list of Received)."""
    before = len(room.smtp.messages)
    assert room.deliver() == 0
    return room.smtp.messages[before:]


def assert_notice(received, *secrets):
    """Check a delivered notice's structure and that no secret is in it; returns (text, html)."""
    message = received.message
    assert message.get_content_type() == "multipart/alternative"
    parts = list(message.iter_parts())
    assert [part.get_content_type() for part in parts] == ["text/plain", "text/html"]  # the preferred one last
    assert [part.get_content_charset() for part in parts] == ["utf-8", "utf-8"]
    text, html = received.body, received.html
    assert text.startswith("Hello ")
    assert text.endswith("\n")
    assert html.startswith("<!DOCTYPE html>")
    assert "</html>" in html
    assert "<script" not in html.lower()
    assert not re.search(r"\b(src|href)\s*=", html, re.IGNORECASE), "a notice links to nothing, loads nothing"
    assert "contact an administrator" in text
    assert "contact an administrator" in html
    when = re.search(r"^When: (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC$", text, re.MULTILINE)
    assert when, text
    sent_at = dt.datetime.strptime(when.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.UTC)
    assert abs((dt.datetime.now(dt.UTC) - sent_at).total_seconds()) < 120
    assert when.group(1) in html
    for secret in secrets:
        assert secret, "an empty secret proves nothing"
        assert secret not in text, f"{secret!r} is in the text"
        assert secret not in html, f"{secret!r} is in the HTML"
    return text, html


def assert_from_client(text, html, ip=CLIENT_IP, user_agent=USER_AGENT):
    assert f"\nIP address: {ip}\n" in text
    assert ip in html
    assert f"\nDevice: {user_agent}\n" in text
    assert user_agent in html


def assert_no_trace_of_admin(text, html):
    for trace in (ADMIN_IP, ADMIN_AGENT):
        assert trace not in text
        assert trace not in html
    assert "IP address:" not in text
    assert "Device:" not in text


def queued_files(room):
    """Every file in the queue's Maildir (new/, cur/, tmp/), dot-files too."""
    return [name for sub in ("new", "cur", "tmp") for name in os.listdir(os.path.join(room.queue_path, sub))]


# --- passwords ------------------------------------------------------------------------------------------------------

def test_changing_your_password_mails_a_notice_without_the_password(room, users):
    user = users.create(email="ada@example.com", name="Ada Lovelace")
    headers = room.headers(user.email)
    refused = room.client.patch_json(ME, {"password": NEW_PASSWORD, "current_password": "not the password"},
                                     **from_client(headers), status=403)
    assert refused.content_type == "application/problem+json"
    room.assert_nothing_sent()  # a refused change is no change

    room.client.patch_json(ME, {"password": NEW_PASSWORD, "current_password": DEFAULT_PASSWORD},
                           **from_client(headers))

    received = room.the_message_to(user.email, PASSWORD_CHANGED)
    text, html = assert_notice(received, NEW_PASSWORD, DEFAULT_PASSWORD, headers["Authorization"].split()[1])
    assert text.startswith("Hello Ada Lovelace,\n")
    assert "The password of your Gatehouse account was changed" in text
    assert "signed out" in text
    assert "someone else knows your password" in text
    assert "The password of your Gatehouse account was changed" in html
    assert_from_client(text, html)
    room.assert_nothing_sent()


def test_an_admin_setting_a_password_mails_the_user_but_not_the_admins_address(room, users):
    admin = users.admin(email="root@example.com")
    user = users.create(email="alan@example.com")
    admin_headers = room.headers(admin.email)

    room.client.patch_json(f"/api/v1/users/{user.id}", {"password": NEW_PASSWORD},
                           **from_client(admin_headers, ADMIN_IP, ADMIN_AGENT))

    text, html = assert_notice(room.the_message_to(user.email, PASSWORD_CHANGED), NEW_PASSWORD)
    assert "An administrator set a new password on your Gatehouse account" in text
    assert "An administrator set a new password" in html
    assert_no_trace_of_admin(text, html)
    room.assert_nothing_sent()  # the admin is not mailed
    room.login(user.email, NEW_PASSWORD)


def test_a_completed_password_reset_mails_a_notice_without_the_token_or_the_password(room, users):
    user = users.create(email="grace@example.com")
    room.request_reset(user.email)
    reset = room.the_message_to(user.email, RESET_SUBJECT)
    token = token_in(reset)
    assert token in reset.html  # the mailed tokens have their HTML alternative too, token included by design

    room.client.post_json("/api/v1/auth/password-reset/confirm", {"token": token, "new_password": NEW_PASSWORD},
                          **from_client({}), status=204)

    text, html = assert_notice(room.the_message_to(user.email, PASSWORD_RESET_DONE), token, NEW_PASSWORD)
    assert "reset with a link mailed to this address" in text
    assert "someone can read your mail" in html
    assert_from_client(text, html)
    room.client.post_json("/api/v1/auth/password-reset/confirm", {"token": token, "new_password": "another one!"},
                          status=400)
    room.assert_nothing_sent()  # a refused reuse is no reset


def test_a_password_change_that_fails_after_its_notice_was_queued_sends_nothing(room, users, monkeypatch):
    """The notice is written to the queue as the password changes; the audit event after it fails, the unit of work
    aborts, and the queued file goes with it."""
    user = users.create(email="fail@example.com")
    headers = room.headers(user.email)
    queued_at_failure = []
    real_add = SqlAuditEventRepository.add

    def add(self, event):
        if event.type == "password.changed":
            queued_at_failure.extend(queued_files(room))
            raise RuntimeError("the audit trail is unreachable")
        return real_add(self, event)
    monkeypatch.setattr(SqlAuditEventRepository, "add", add)

    response = room.client.patch_json(ME, {"password": NEW_PASSWORD, "current_password": DEFAULT_PASSWORD},
                                      **from_client(headers), status=500)

    assert response.content_type == "application/problem+json"
    assert len(queued_at_failure) == 1  # the notice was in the queue (tmp/) when the unit of work failed...
    assert queued_files(room) == []  # ...and the abort removed it
    room.assert_nothing_sent()
    room.login(user.email, DEFAULT_PASSWORD)  # nothing changed
    room.login(user.email, NEW_PASSWORD, status=401)


# --- email address --------------------------------------------------------------------------------------------------

def test_an_email_change_tells_the_old_and_the_new_address(room, users):
    admin = users.admin(email="root@example.com")
    user = users.create(email="old.ada@example.com", name="Ada")
    admin_headers = room.headers(admin.email)

    room.client.patch_json(f"/api/v1/users/{user.id}", {"email": "new.ada@example.com"},
                           **from_client(admin_headers, ADMIN_IP, ADMIN_AGENT))

    sent = delivered(room)
    assert sorted(received.rcpt_tos for received in sent) == [("new.ada@example.com",), ("old.ada@example.com",)]
    to_old = next(received for received in sent if received.rcpt_tos == ("old.ada@example.com",))
    to_new = next(received for received in sent if received.rcpt_tos == ("new.ada@example.com",))
    assert (to_old.message["To"], to_old.message["Subject"]) == ("old.ada@example.com", EMAIL_CHANGED_OLD)
    assert (to_new.message["To"], to_new.message["Subject"]) == ("new.ada@example.com", EMAIL_CHANGED_NEW)
    assert to_old.message["From"] == to_new.message["From"] == SENDER

    text, html = assert_notice(to_old)
    assert "changed from this address (old.ada@example.com) to new.ada@example.com by an administrator" in text
    assert "new.ada@example.com" in html
    assert "can no longer reset the password" in text
    assert_no_trace_of_admin(text, html)
    text, html = assert_notice(to_new, "old.ada@example.com")  # a typo's stranger does not learn the old address
    assert "This address (new.ada@example.com) is now the email address of your Gatehouse account" in text
    assert "verify-email/resend" in html
    assert_no_trace_of_admin(text, html)
    room.assert_nothing_sent()


def test_an_email_change_refused_after_its_notices_were_queued_sends_nothing(room, users, monkeypatch):
    """The admin's change moves the email (both notices queued), then the new password fails the policy: the whole
    change is refused, nothing is delivered, the email stays."""
    admin = users.admin(email="root@example.com")
    user = users.create(email="stay@example.com")
    admin_headers = room.headers(admin.email)
    queued_at_check = []
    real_check = PasswordService.check_policy

    def check_policy(self, *args, **kwargs):
        queued_at_check.extend(queued_files(room))
        return real_check(self, *args, **kwargs)
    monkeypatch.setattr(PasswordService, "check_policy", check_policy)

    refused = room.client.patch_json(f"/api/v1/users/{user.id}", {"email": "moved@example.com",
                                                                   "password": "password1"},  # a common password
                                     **from_client(admin_headers, ADMIN_IP, ADMIN_AGENT), status=400)

    assert refused.json["type"] == "urn:gatehouse:problem:validation-error"
    assert len(queued_at_check) == 2  # both notices were written before the policy refused the password...
    assert queued_files(room) == []  # ...and removed with the aborted unit of work
    room.assert_nothing_sent()
    assert users.get(user.id).email == "stay@example.com"


# --- second factors -------------------------------------------------------------------------------------------------

def enrol_totp(room, clock, user):
    """Enrol and confirm TOTP for `user` through the API (from CLIENT_IP); returns (secret, recovery codes, the
    confirmation code, headers). The enrolment's notice is left in the queue."""
    headers = room.headers(user.email)
    enrolment = room.client.post_json(TOTP, {}, headers=headers).json
    code = clock.code(enrolment["secret"])
    codes = room.client.post_json(TOTP + "/confirm", {"code": code}, **from_client(headers)).json["recovery_codes"]
    return enrolment["secret"], codes, code, headers


def test_confirming_an_authenticator_app_mails_a_notice_without_the_secret_or_the_codes(room, users, clock):
    user = users.create(email="totp@example.com")

    secret, codes, code, _headers = enrol_totp(room, clock, user)

    received = room.the_message_to(user.email, TOTP_ADDED)  # one message: no separate one for its recovery codes
    text, html = assert_notice(received, secret, secret.lower(), code, *codes)
    assert "An authenticator app was added to your Gatehouse account as a second factor" in text
    assert "new recovery codes were made" in html
    assert_from_client(text, html)


def test_regenerating_recovery_codes_mails_a_notice_without_any_code(room, users, clock):
    user = users.create(email="codes@example.com")
    secret, old_codes, _code, headers = enrol_totp(room, clock, user)
    room.the_message_to(user.email, TOTP_ADDED)

    new_codes = room.client.post(RECOVERY_CODES, **from_client(headers)).json["recovery_codes"]

    text, html = assert_notice(room.the_message_to(user.email, CODES_REGENERATED), secret, *old_codes, *new_codes)
    assert "New recovery codes were made for your Gatehouse account; the earlier ones no longer work." in text
    assert "the earlier ones no longer work" in html
    assert_from_client(text, html)


def test_removing_the_authenticator_app_mails_a_notice_saying_no_factor_is_left(room, users, clock):
    user = users.create(email="off@example.com")
    secret, codes, _code, headers = enrol_totp(room, clock, user)
    room.the_message_to(user.email, TOTP_ADDED)
    code = clock.fresh_code(secret)

    room.client.post_json(TOTP + "/disable", {"code": code}, **from_client(headers), status=204)

    text, html = assert_notice(room.the_message_to(user.email, TOTP_REMOVED), secret, code, *codes)
    assert "The authenticator app was removed from your Gatehouse account." in text
    assert "no second factor any more" in text
    assert "no second factor any more" in html
    assert_from_client(text, html)


def register_passkey(room, headers, name):
    """Register a passkey through the API with a software authenticator; (its id, the RegistrationResponseJSON)."""
    authenticator = SoftAuthenticator(origin=room.app.config["WEBAUTHN_ORIGINS"][0])
    options = room.client.post(PASSKEYS + "/options", headers=headers).json
    response, _credential = authenticator.create(options["public_key"])
    created = room.client.post_json(PASSKEYS, {"ceremony": options["ceremony"], "name": name, "credential": response},
                                    **from_client(headers), status=201)
    return created.json["id"], response, options["ceremony"]


def test_adding_and_removing_a_passkey_mails_notices_naming_it(room, users):
    user = users.create(email="keys@example.com")
    headers = room.headers(user.email)

    passkey_id, response, ceremony = register_passkey(room, headers, "Work <laptop>")

    text, html = assert_notice(room.the_message_to(user.email, PASSKEY_ADDED), response["rawId"], ceremony,
                               response["response"]["attestationObject"])
    assert 'A passkey named "Work <laptop>" was added to your Gatehouse account.' in text
    assert "Work &lt;laptop&gt;" in html
    assert "<laptop>" not in html
    assert_from_client(text, html)

    room.client.delete(f"{PASSKEYS}/{passkey_id}", **from_client(headers), status=204)

    text, html = assert_notice(room.the_message_to(user.email, PASSKEY_REMOVED), response["rawId"])
    assert 'The passkey named "Work <laptop>" was removed from your Gatehouse account' in text
    assert "no second factor any more" in text  # it was the only one
    assert "Work &lt;laptop&gt;" in html
    assert_from_client(text, html)


# --- the messages themselves ----------------------------------------------------------------------------------------

def test_a_name_beyond_ascii_arrives_intact_in_both_parts(room, users):
    """UTF-8 parts stay UTF-8 through the queue and the SMTP delivery (repoze.sendmail relabelled them us-ascii)."""
    user = users.create(email="zoe@example.com", name="Zoë Ñandú 東京")
    headers = room.headers(user.email)
    room.client.patch_json(ME, {"password": NEW_PASSWORD, "current_password": DEFAULT_PASSWORD}, headers=headers)

    received = room.the_message_to(user.email, PASSWORD_CHANGED)

    assert received.body.startswith("Hello Zoë Ñandú 東京,\n")
    assert "<p>Hello Zoë Ñandú 東京,</p>" in received.html


def test_the_verification_mail_has_an_html_alternative_with_the_escaped_link(room, make_app, tmp_path):
    linked = Mailroom(make_app(MAIL_SERVER=HOST, MAIL_PORT=room.smtp.port, MAIL_QUEUE_PATH=str(tmp_path / "linked"),
                               MAIL_DEFAULT_SENDER=SENDER,
                               EMAIL_VERIFICATION_URL="https://app.example/verify?from=mail&token={token}"), room.smtp)
    linked.register("link@example.com", name="Ada <b>")

    received = linked.the_message_to("link@example.com", VERIFY_SUBJECT)

    link = re.search(r"^https://app\.example/verify\?from=mail&token=(\S+)$", received.body, re.MULTILINE)
    assert link, received.body
    assert f'href="https://app.example/verify?from=mail&amp;token={link.group(1)}"' in received.html
    assert "<p>Hello Ada &lt;b&gt;,</p>" in received.html
    assert [part.get_content_type() for part in received.message.iter_parts()] == ["text/plain", "text/html"]


def test_mail_show_prints_the_plain_text_of_a_notice(room, users):
    user = users.create(email="show@example.com")
    headers = room.headers(user.email)
    room.client.patch_json(ME, {"password": NEW_PASSWORD, "current_password": DEFAULT_PASSWORD},
                           **from_client(headers))
    listing = room.cli("mail", "list")
    assert listing.exit_code == 0, listing.output
    [line] = listing.stdout.splitlines()
    assert line.endswith(f"  {user.email}  {PASSWORD_CHANGED}")

    shown = room.cli("mail", "show", line.split()[0])

    assert shown.exit_code == 0, shown.output
    assert f"Subject: {PASSWORD_CHANGED}\n" in shown.stdout
    assert "\n\nHello Test User,\n\nThe password of your Gatehouse account was changed" in shown.stdout
    assert f"IP address: {CLIENT_IP}\n" in shown.stdout
    assert "<html" not in shown.stdout
    assert "<p>" not in shown.stdout
