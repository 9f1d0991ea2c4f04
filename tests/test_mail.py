"""Mailed tokens end to end: registration and resend mail a verification token, password reset mails a reset token,
through the app's real Maildir queue (repoze.sendmail, joined to the zope transaction) and a real SMTP server
(aiosmtpd, tests/smtp_server.py). Messages exist only for committed transactions; a queue that cannot be written
rolls the database back; a message the server could not take stays queued until it can. `flask mail list/show` read
the queue decoded; `flask send-mail` reports each message it could not deliver in one line."""
import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from email.utils import parseaddr
from pathlib import Path
from urllib.parse import unquote

import pytest
import transaction
from flask import current_app
from injector import inject
from sqlalchemy import select

from app.dependencies import resolve
from app.entities import AuditEvent
from app.extensions import db
from app.mail import MailQueue, MailSender
from app.services.account_mail import RESET_SUBJECT, VERIFY_SUBJECT
from app.services.email_verification import EmailVerificationService
from app.services.events import UserEvents
from app.services.users import UserService
from tests.net import refused_port
from tests.smtp_server import HOST, SmtpServer
from tests.support import DEFAULT_PASSWORD, ApiClient

SENDER = "Gatehouse Accounts <accounts@gatehouse.test>"
NEW_PASSWORD = "a brand new passphrase"
INVALID_TOKEN = "urn:gatehouse:problem:invalid-token"


@pytest.fixture
def smtp_server():
    """A running SMTP server on 127.0.0.1 that records what it accepts; stopped after the test."""
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def mailroom(make_app, smtp_server, tmp_path):
    """`mailroom(**config_overrides)`: an app whose mail queue is tmp_path/queue and whose SMTP server is
    `smtp_server`, with a client and helpers."""
    def build(injector_modules=(), **overrides):
        settings = {"MAIL_SERVER": HOST, "MAIL_PORT": smtp_server.port, "MAIL_QUEUE_PATH": str(tmp_path / "queue"),
                    "MAIL_DEFAULT_SENDER": SENDER, **overrides}
        return Mailroom(make_app(injector_modules=injector_modules, **settings), smtp_server)
    return build


class Mailroom:
    def __init__(self, app, smtp):
        self.app = app
        self.smtp = smtp
        self.client = ApiClient(app)
        self.queue_path = app.config["MAIL_QUEUE_PATH"]

    def deliver(self):
        """Run the app's queue processor once; the number of messages left queued."""
        with self.app.app_context():
            return resolve(MailSender).deliver().left

    def cli(self, *args):
        """Run `flask ARGS` in-process (Click's runner); its result (exit_code, output: stdout and stderr)."""
        return self.app.test_cli_runner().invoke(args=list(args))

    def the_message_to(self, address, subject):
        """Deliver the queue and return the one message it sent, checking it went to `address` only."""
        before = len(self.smtp.messages)
        assert self.deliver() == 0
        sent = self.smtp.messages[before:]
        assert len(sent) == 1, [m.message["Subject"] for m in sent]
        received = sent[0]
        assert received.rcpt_tos == (address,)
        assert received.message["To"] == address
        assert received.message["Subject"] == subject
        assert received.message["From"] == SENDER
        assert received.mail_from == parseaddr(SENDER)[1]
        return received

    def assert_nothing_sent(self):
        before = len(self.smtp.messages)
        assert self.deliver() == 0
        assert self.smtp.messages[before:] == []

    def queue_files(self):
        """Every file in the Maildir's new/, cur/ and tmp/ (dot-files too)."""
        return [name for sub in ("new", "cur", "tmp") if os.path.isdir(os.path.join(self.queue_path, sub))
                for name in os.listdir(os.path.join(self.queue_path, sub))]

    def register(self, email, name="Ada", password=DEFAULT_PASSWORD, status=201):
        return self.client.post_json("/api/v1/auth/register", {"email": email, "name": name, "password": password},
                                     status=status)

    def login(self, email, password=DEFAULT_PASSWORD, status=200):
        return self.client.post_json("/api/v1/auth/login", {"email": email, "password": password}, status=status)

    def headers(self, email, password=DEFAULT_PASSWORD):
        return {"Authorization": f"Bearer {self.login(email, password).json['access_token']}"}

    def me(self, headers, status=200):
        return self.client.get("/api/v1/users/me", headers=headers, status=status)

    def verify(self, token, status=204):
        return self.client.post_json("/api/v1/auth/verify-email", {"token": token}, status=status)

    def request_reset(self, email):
        return self.client.post_json("/api/v1/auth/password-reset", {"email": email}, status=202)

    def confirm_reset(self, token, new_password=NEW_PASSWORD, status=204):
        return self.client.post_json("/api/v1/auth/password-reset/confirm",
                                     {"token": token, "new_password": new_password}, status=status)

    def audit_types(self, user_id):
        with self.app.app_context():
            try:
                return [e.type for e in db.session.scalars(
                    select(AuditEvent).where(AuditEvent.user_id == user_id).order_by(AuditEvent.id))]
            finally:
                transaction.abort()


def token_in(received):
    """The token of a message sent without a link template ("Token: ..." line)."""
    match = re.search(r"^Token: (\S+)$", received.body, re.MULTILINE)
    assert match, received.body
    return match.group(1)


def assert_invalid_token(response):
    assert response.status_int == 400
    assert response.content_type == "application/problem+json"
    assert response.json["type"] == INVALID_TOKEN


# --- email verification ---------------------------------------------------------------------------------------------

def test_registration_mails_a_token_that_verifies_the_email_once(mailroom):
    room = mailroom()
    user_id = room.register("ada@example.com", name="Ada Lovelace").json["id"]
    received = room.the_message_to("ada@example.com", VERIFY_SUBJECT)
    assert "Hello Ada Lovelace" in received.body
    assert "works once, for 2 days" in received.body  # EMAIL_VERIFICATION_TTL's default, in words
    token = token_in(received)
    headers = room.headers("ada@example.com")
    assert room.me(headers).json["email_verified"] is False

    room.verify(token)

    assert room.me(headers).json["email_verified"] is True
    assert room.audit_types(user_id).count("email.verified") == 1
    assert_invalid_token(room.verify(token, status=400))  # single use
    room.assert_nothing_sent()


def test_the_cli_delivers_the_queue(mailroom):
    room = mailroom()
    room.register("cli@example.com")
    result = room.cli("send-mail")
    assert result.exit_code == 0, result.output
    assert f"Delivered 1 message(s) to {HOST}:{room.smtp.port}; 0 message(s) left" in result.output
    assert "Not delivered" not in result.output
    assert [m.rcpt_tos for m in room.smtp.messages] == [("cli@example.com",)]
    assert room.smtp.messages[0].message["Subject"] == VERIFY_SUBJECT
    result = room.cli("send-mail")  # an empty queue is not a failure
    assert result.exit_code == 0, result.output
    assert "Delivered 0 message(s)" in result.output


def test_the_verification_message_carries_the_configured_link(mailroom):
    room = mailroom(EMAIL_VERIFICATION_URL="https://app.example/verify?token={token}")
    room.register("link@example.com")
    body = room.the_message_to("link@example.com", VERIFY_SUBJECT).body
    match = re.search(r"https://app\.example/verify\?token=(\S+)", body)
    assert match, body
    assert "Token:" not in body
    room.verify(unquote(match.group(1)))
    assert room.me(room.headers("link@example.com")).json["email_verified"] is True


def test_resend_replaces_the_token_and_sends_nothing_once_verified(mailroom):
    room = mailroom()
    room.register("re@example.com")
    first = token_in(room.the_message_to("re@example.com", VERIFY_SUBJECT))
    headers = room.headers("re@example.com")
    room.client.post("/api/v1/auth/verify-email/resend", status=401)  # needs a bearer token

    room.client.post("/api/v1/auth/verify-email/resend", headers=headers, status=202)

    second = token_in(room.the_message_to("re@example.com", VERIFY_SUBJECT))
    assert second != first
    assert_invalid_token(room.verify(first, status=400))  # superseded
    room.verify(second)
    assert room.me(headers).json["email_verified"] is True
    room.client.post("/api/v1/auth/verify-email/resend", headers=headers, status=202)
    room.assert_nothing_sent()


def test_an_expired_verification_token_is_refused(mailroom):
    room = mailroom(EMAIL_VERIFICATION_TTL=1)
    room.register("late@example.com")
    token = token_in(room.the_message_to("late@example.com", VERIFY_SUBJECT))
    time.sleep(1.1)
    assert_invalid_token(room.verify(token, status=400))
    assert room.me(room.headers("late@example.com")).json["email_verified"] is False


# --- mail follows the transaction -----------------------------------------------------------------------------------

def test_a_refused_duplicate_registration_sends_nothing(mailroom):
    room = mailroom()
    room.register("dup@example.com")
    room.the_message_to("dup@example.com", VERIFY_SUBJECT)
    response = room.register("DUP@example.com", status=409)
    assert response.json["type"] == "urn:gatehouse:problem:email-taken"
    room.assert_nothing_sent()
    assert room.queue_files() == []


class MailThenFailEvents(UserEvents):
    """Queues the real verification message, then fails: the registration's transaction aborts after the mail was
    written to the queue."""

    queued = None

    @inject
    def __init__(self, verification: EmailVerificationService):
        self.verification = verification

    def user_created(self, uow, user):
        self.verification.send(uow, user)
        MailThenFailEvents.queued = os.listdir(os.path.join(current_app.config["MAIL_QUEUE_PATH"], "tmp"))
        raise ConnectionError("event sink unreachable")


def test_a_registration_rolled_back_after_queuing_its_mail_sends_nothing(mailroom, users):
    MailThenFailEvents.queued = None
    room = mailroom(injector_modules=[lambda b: b.bind(UserEvents, to=MailThenFailEvents)])
    response = room.register("gone@example.com", status=500)
    assert response.content_type == "application/problem+json"
    assert len(MailThenFailEvents.queued) == 1  # the message was written to the queue before the failure...
    assert users.count() == 0
    assert room.queue_files() == []  # ...and removed by the abort, never committed to new/
    room.assert_nothing_sent()


def test_a_queue_that_cannot_be_written_rolls_the_registration_back(mailroom, users, tmp_path):
    not_a_directory = tmp_path / "queue-file"
    not_a_directory.write_text("a regular file cannot be a Maildir")
    room = mailroom(MAIL_QUEUE_PATH=str(not_a_directory))
    response = room.register("nomail@example.com", status=503)
    assert response.content_type == "application/problem+json"
    assert response.json["type"] == "urn:gatehouse:problem:dependency-unavailable"
    assert users.count() == 0
    assert room.smtp.messages == []


def test_a_reset_request_with_the_queue_down_answers_as_for_an_unknown_address(mailroom, users, tmp_path):
    """503 only for registered addresses would tell them apart: both get the same 202; nothing is issued."""
    not_a_directory = tmp_path / "queue-file"
    not_a_directory.write_text("a regular file cannot be a Maildir")
    room = mailroom(MAIL_QUEUE_PATH=str(not_a_directory))
    user = users.create(email="reset@example.com")
    known = room.request_reset(user.email)
    unknown = room.request_reset("nobody@example.com")
    assert (known.status_code, known.json) == (unknown.status_code, unknown.json) == (202, unknown.json)
    assert room.audit_types(user.id).count("password.reset_requested") == 1


# --- password reset -------------------------------------------------------------------------------------------------

def test_password_reset_sets_the_password_and_ends_every_session(mailroom, users):
    room = mailroom()
    user = users.create(email="reset@example.com")
    session = room.login(user.email).json  # opened before the reset
    assert "on its way" in room.request_reset("Reset@Example.com").json["detail"]
    received = room.the_message_to(user.email, RESET_SUBJECT)
    token = token_in(received)

    room.confirm_reset(token)

    room.login(user.email, DEFAULT_PASSWORD, status=401)
    room.login(user.email, NEW_PASSWORD)
    room.me({"Authorization": f"Bearer {session['access_token']}"}, status=401)
    room.client.post_json("/api/v1/auth/refresh", {"refresh_token": session["refresh_token"]}, status=401)
    assert_invalid_token(room.confirm_reset(token, "yet another passphrase", status=400))
    room.login(user.email, NEW_PASSWORD)  # the reused token changed nothing
    assert room.me(room.headers(user.email, NEW_PASSWORD)).json["email_verified"] is True  # the token proved it
    events = room.audit_types(user.id)
    assert events.count("password.reset_requested") == 1
    assert events.count("password.reset") == 1
    notice = room.the_message_to(user.email, "Your password was reset")  # one: the refused reuse mailed nothing
    assert token not in notice.body
    assert NEW_PASSWORD not in notice.body
    room.assert_nothing_sent()


def test_a_reset_for_an_unknown_email_answers_the_same_and_sends_nothing(mailroom, users):
    room = mailroom()
    user = users.create(email="known@example.com")
    known = room.request_reset(user.email)
    room.the_message_to(user.email, RESET_SUBJECT)
    unknown = room.request_reset("unknown@example.com")
    assert (unknown.status_int, unknown.body, unknown.content_type) == (known.status_int, known.body,
                                                                        known.content_type)
    room.assert_nothing_sent()


def test_a_second_reset_request_replaces_the_first_token(mailroom, users):
    room = mailroom()
    user = users.create(email="twice@example.com")
    room.request_reset(user.email)
    first = token_in(room.the_message_to(user.email, RESET_SUBJECT))
    room.request_reset(user.email)
    second = token_in(room.the_message_to(user.email, RESET_SUBJECT))
    assert_invalid_token(room.confirm_reset(first, status=400))
    room.confirm_reset(second)
    room.login(user.email, NEW_PASSWORD)


@pytest.mark.parametrize("bad_password", ["short", "password1"])  # the schema's length rule; the common-password list
def test_a_refused_new_password_leaves_the_reset_token_usable(mailroom, users, bad_password):
    room = mailroom()
    user = users.create(email="policy@example.com")
    room.request_reset(user.email)
    token = token_in(room.the_message_to(user.email, RESET_SUBJECT))
    response = room.confirm_reset(token, bad_password, status=400)
    assert response.json["type"] == "urn:gatehouse:problem:validation-error"
    assert "new_password" in response.json["errors"]
    room.login(user.email, bad_password, status=401)
    room.login(user.email)  # the password is unchanged

    room.confirm_reset(token)
    room.login(user.email, NEW_PASSWORD)


def test_an_expired_reset_token_is_refused(mailroom, users):
    room = mailroom(PASSWORD_RESET_TTL=1)
    user = users.create(email="slow@example.com")
    room.request_reset(user.email)
    token = token_in(room.the_message_to(user.email, RESET_SUBJECT))
    time.sleep(1.1)
    assert_invalid_token(room.confirm_reset(token, status=400))
    room.login(user.email)


def test_deactivated_accounts_get_no_reset_mail_and_cannot_use_an_earlier_one(mailroom, users):
    room = mailroom()
    admin = users.admin(email="boss@example.com")
    user = users.create(email="idle@example.com")
    room.request_reset(user.email)
    token = token_in(room.the_message_to(user.email, RESET_SUBJECT))
    with room.app.app_context():
        resolve(UserService).update(admin.id, user.id, is_active=False)

    room.request_reset(user.email)

    room.assert_nothing_sent()
    assert_invalid_token(room.confirm_reset(token, status=400))


# --- delivery failures ----------------------------------------------------------------------------------------------

def test_mail_stays_queued_while_the_smtp_server_is_down_and_goes_out_once_it_is_back(mailroom):
    room = mailroom()
    room.register("wait@example.com")
    room.smtp.stop()
    result = room.cli("send-mail")
    assert result.exit_code == 1, result.output  # nothing could be delivered
    assert f"to wait@example.com: cannot connect to {HOST}:{room.smtp.port}: Connection refused" in result.output
    assert "1 message(s) left" in result.output
    assert room.deliver() == 1  # a second failed attempt keeps it too

    room.smtp.start()  # the same port

    received = room.the_message_to("wait@example.com", VERIFY_SUBJECT)  # sent once, not twice
    room.verify(token_in(received))
    room.assert_nothing_sent()
    assert room.queue_files() == []


@pytest.mark.parametrize("stage", ["rcpt_reply", "data_reply"])  # the recipient refused, or the message
def test_a_temporary_refusal_keeps_the_message_and_a_permanent_one_drops_it(mailroom, stage):
    room = mailroom()
    room.register("busy@example.com")
    setattr(room.smtp, stage, "451 4.3.0 Try again later")
    assert room.deliver() == 1
    setattr(room.smtp, stage, None)
    room.the_message_to("busy@example.com", VERIFY_SUBJECT)

    room.register("nobody@example.com")
    setattr(room.smtp, stage, "550 5.1.1 No such user")
    result = room.cli("send-mail")
    assert result.exit_code == 1, result.output
    [line] = [line for line in result.output.splitlines() if line.startswith("Not delivered")]
    assert line.startswith("Not delivered (refused for good, moved aside): ")
    refusal = "refused the recipient:" if stage == "rcpt_reply" else "answered"
    assert line.endswith(f"to nobody@example.com: {HOST}:{room.smtp.port} {refusal} 550 5.1.1 No such user")
    assert "0 message(s) left" in result.output  # moved aside, not retried
    setattr(room.smtp, stage, None)
    room.assert_nothing_sent()


# --- reading the queue: flask mail list / show ----------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[1]
LIST_LINE = re.compile(r"(?P<id>[0-9a-f]{10})  (?P<date>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)  (?P<to>\S+)  (?P<subject>.+)")


def listed(room):
    """`flask mail list`, each line parsed (every stdout line must be one)."""
    result = room.cli("mail", "list")
    assert result.exit_code == 0, result.output
    entries = [LIST_LINE.fullmatch(line) for line in result.stdout.splitlines()]
    assert all(entries), result.stdout
    return [entry.groupdict() for entry in entries]


def queue_bytes(room):
    """Everything in the queue's files, as stored."""
    return b"".join(Path(room.queue_path, sub, name).read_bytes() for sub in ("new", "cur")
                    for name in os.listdir(os.path.join(room.queue_path, sub)))


def test_mail_list_and_show_decode_the_queued_message_and_its_token(mailroom):
    room = mailroom()
    room.register("ada@example.com", name="Ada Lovelace Ñandú")

    [entry] = listed(room)
    assert (entry["to"], entry["subject"]) == ("ada@example.com", VERIFY_SUBJECT)
    queued_at = datetime.strptime(entry["date"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - queued_at).total_seconds()) < 120
    shown = room.cli("mail", "show", entry["id"][:4])  # a unique prefix will do
    assert shown.exit_code == 0, shown.output
    assert "To: ada@example.com\n" in shown.stdout
    assert f"From: {SENDER}\n" in shown.stdout
    assert f"Subject: {VERIFY_SUBJECT}\n" in shown.stdout
    assert re.search(r"^Message-Id: <[^ ]+>$", shown.stdout, re.MULTILINE), shown.stdout  # unfolded
    assert "Hello Ada Lovelace Ñandú," in shown.stdout
    token = re.search(r"^Token: (\S+)$", shown.stdout, re.MULTILINE).group(1)
    assert token.encode() not in queue_bytes(room)  # the stored message is base64: reading the file is not enough

    assert token_in(room.the_message_to("ada@example.com", VERIFY_SUBJECT)) == token  # the very token it carries
    room.verify(token)
    assert listed(room) == []  # delivered: gone from the queue
    assert "No message in the mail queue" in room.cli("mail", "list").output


def test_mail_list_decodes_an_encoded_subject_and_show_prints_the_link(mailroom, users):
    room = mailroom(PASSWORD_RESET_URL="https://app.example/reset?token={token}")
    with room.app.app_context(), transaction.manager:
        resolve(MailQueue).send("zoe@example.com", "Grüße an Zoë", "Hallo Zoë!\n")
    assert "Grüße".encode() not in queue_bytes(room)  # an RFC 2047 encoded word in the file
    users.create(email="reset@example.com")
    room.request_reset("reset@example.com")

    entries = listed(room)
    assert [(entry["to"], entry["subject"]) for entry in entries] == [  # oldest first
        ("zoe@example.com", "Grüße an Zoë"), ("reset@example.com", RESET_SUBJECT)]
    shown = room.cli("mail", "show", entries[0]["id"])
    assert shown.exit_code == 0, shown.output
    assert "Subject: Grüße an Zoë\n" in shown.stdout
    assert shown.stdout.endswith("\n\nHallo Zoë!\n")
    shown = room.cli("mail", "show", entries[1]["id"])
    link = re.search(r"^https://app\.example/reset\?token=(\S+)$", shown.stdout, re.MULTILINE)
    assert link, shown.stdout
    room.confirm_reset(unquote(link.group(1)))
    room.login("reset@example.com", NEW_PASSWORD)


def test_mail_show_refuses_an_unknown_id(mailroom):
    room = mailroom()
    room.register("someone@example.com")
    [entry] = listed(room)
    unknown = "0123456789" if not entry["id"].startswith("0") else "f123456789"
    result = room.cli("mail", "show", unknown)
    assert result.exit_code == 1
    assert f"No queued message has the id '{unknown}'" in result.output



@pytest.mark.parametrize("command", [["mail", "list"], ["mail", "show", "0123"], ["send-mail"]])
def test_a_queue_that_cannot_be_read_is_reported_in_one_line(mailroom, tmp_path, command):
    not_a_directory = tmp_path / "queue-file"
    not_a_directory.write_text("a regular file cannot be a Maildir")
    room = mailroom(MAIL_QUEUE_PATH=str(not_a_directory))
    result = room.cli(*command)
    assert result.exit_code == 1
    assert result.output == (f"Error: The mail queue {not_a_directory} (MAIL_QUEUE_PATH) cannot be used: "
                             "Not a directory\n")


# --- flask send-mail as a newcomer runs it: a real process ----------------------------------------------------------

def run_send_mail(room, tmp_path, port):
    """`flask --app autoapp send-mail` in its own process, on `room`'s queue, delivering to 127.0.0.1:`port`."""
    env = {**os.environ, "GATEHOUSE_ENV": "development", "SECRET_KEY": "x" * 40,
           "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}", "MAIL_QUEUE_PATH": room.queue_path,
           "MAIL_SERVER": HOST, "MAIL_PORT": str(port), "LOG_FORMAT": "text", "LOG_LEVEL": "INFO"}
    return subprocess.run([sys.executable, "-m", "flask", "--app", "autoapp", "send-mail"],  # noqa: S603
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                          check=False)


def test_send_mail_without_a_server_says_why_in_one_line_per_message_and_fails(mailroom, tmp_path):
    room = mailroom()
    addresses = {"one@example.com", "two@example.com", "three@example.com"}
    for address in sorted(addresses):
        room.register(address)
    ids = {entry["to"]: entry["id"] for entry in listed(room)}

    with refused_port(HOST) as port:
        result = run_send_mail(room, tmp_path, port)

    assert result.returncode == 1, result
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert sorted(lines) == sorted(f"Not delivered (kept in the queue): {ids[address]} to {address}: "
                                   f"cannot connect to {HOST}:{port}: Connection refused" for address in addresses)
    assert result.stdout == f"Delivered 0 message(s) to {HOST}:{port}; 3 message(s) left in the queue for a later " \
                            "attempt\n"
    assert {entry["to"] for entry in listed(room)} == addresses  # all still queued

    result = run_send_mail(room, tmp_path, room.smtp.port)  # now with a server

    assert result.returncode == 0, result
    assert result.stderr == ""
    assert result.stdout == f"Delivered 3 message(s) to {HOST}:{room.smtp.port}; 0 message(s) left in the queue " \
                            "for a later attempt\n"
    assert sorted(m.rcpt_tos[0] for m in room.smtp.messages) == sorted(addresses)
    assert listed(room) == []
