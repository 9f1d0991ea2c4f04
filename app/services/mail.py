"""Transactional mail through repoze.sendmail: messages join the zope transaction of the change that causes them.

`MailQueue.send` writes the message into a Maildir queue (`MAIL_QUEUE_PATH`) at once and makes it visible to the
sender only when the transaction commits (the database commits first, in its vote; the file is moved into `new/`
in tpc_finish); an aborted transaction deletes it. A failure to write the queue file raises inside the transaction,
which then rolls the database work back. `flask send-mail` (repoze.sendmail's QueueProcessor) delivers queued
messages over SMTP (`MAIL_SERVER`, `MAIL_PORT`, ...), once or in a loop, and reports each message it could not deliver
in one line; `flask mail list` and `flask mail show` read the queue (decoded by the stdlib's `email` package).
"""
import contextlib
import email
import email.policy
import hashlib
import logging
import os
import smtplib
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.mime.text import MIMEText
from email.utils import parseaddr

from flask import Config
from injector import inject
from repoze.sendmail.delivery import QueuedMailDelivery
from repoze.sendmail.maildir import Maildir, NotAMaildir
from repoze.sendmail.mailer import SMTPMailer
from repoze.sendmail.queue import QueueProcessor

from app.errors import DependencyUnavailable

logger = logging.getLogger(__name__)


class MailQueue:
    """Queues plain-text messages in the current transaction. Stateless apart from settings: bind as singleton."""

    @inject
    def __init__(self, config: Config):
        self.queue_path = config["MAIL_QUEUE_PATH"]
        self.sender = config["MAIL_DEFAULT_SENDER"]
        self._delivery = QueuedMailDelivery(self.queue_path)
        self._config = config
        try:
            self._ensure_maildir()
        except OSError as error:  # reported again, as a 503, by the first send
            logger.warning("mail queue %s cannot be created: %s", self.queue_path, error)

    def _ensure_maildir(self):
        for sub in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(self.queue_path, sub), exist_ok=True)

    def send(self, to, subject, body):
        """Queue a text/plain message to `to` (one address) in the current transaction; returns its Message-Id, or
        None, sending nothing, for an address the transport cannot carry (a non-ASCII local part).

        Raises DependencyUnavailable when the queue cannot be written (full disk, permissions): raised inside the
        caller's unit of work, it aborts the database work too.
        """
        to = _ascii_address(to)
        if to is None:
            logger.warning("not mailing an address with a non-ASCII local part (needs SMTPUTF8)")
            return None
        # A compat32 message: repoze.sendmail folds long headers itself, which EmailMessage's policy refuses.
        message = MIMEText(body, "plain", "utf-8")
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject
        try:
            return self._delivery.send(parseaddr(self.sender)[1], [to], message)  # envelope: the bare address
        except (OSError, NotAMaildir) as error:
            logger.error("mail queue %s is not writable: %s", self.queue_path, error.__class__.__name__)
            raise DependencyUnavailable("Mail cannot be queued right now; nothing was changed. Try again.") from error

    def deliver_queued(self):
        """Send every committed message in the queue over SMTP (repoze.sendmail QueueProcessor), oldest first. A
        message the server refuses permanently (5xx) is moved aside (a `.rejected-` copy) and not retried; any other
        failure (server unreachable, a 4xx reply) leaves it queued for the next run. Returns a DeliveryReport: what
        went out, what did not and why (no traceback is logged), and how many messages are left."""
        self._ensure_maildir()
        processor = _QueueProcessor(self.mailer(), self.queue_path, self.server)
        processor.send_messages()
        return DeliveryReport(self.server, processor.delivered, processor.failures, self._count_left())

    @property
    def server(self):
        """`host:port` of the SMTP server messages are delivered to."""
        return f"{self._config['MAIL_SERVER']}:{self._config['MAIL_PORT']}"

    def queued(self):
        """The committed messages waiting in the queue, oldest first (the order `send-mail` delivers them in)."""
        self._ensure_maildir()
        return [queued for queued in map(_read_queued, _Maildir(self.queue_path)) if queued is not None]

    def find(self, message_id):
        """The queued messages whose id (QueuedMessage.id) is or starts with `message_id`."""
        wanted = message_id.strip().lower()
        if not wanted:
            return []
        return [queued for queued in self.queued() if queued.id.startswith(wanted)]

    def _count_left(self):
        return sum(not name.startswith(".") for sub in ("new", "cur")
                   for name in os.listdir(os.path.join(self.queue_path, sub)))

    def mailer(self):
        """The repoze.sendmail SMTPMailer for the configured server (STARTTLS or implicit TLS when asked)."""
        c = self._config
        return SMTPMailer(hostname=c["MAIL_SERVER"], port=c["MAIL_PORT"], username=c["MAIL_USERNAME"] or None,
                          password=c["MAIL_PASSWORD"] or None, no_tls=not (c["MAIL_USE_TLS"] or c["MAIL_USE_SSL"]),
                          force_tls=c["MAIL_USE_TLS"], ssl=c["MAIL_USE_SSL"])


class _Maildir(Maildir):
    """repoze.sendmail 4.5's Maildir lists `new/` and `cur/` with pathlib's glob, which (unlike glob.glob) includes
    dot-files, so the QueueProcessor took its own `.sending-*` locks and `.rejected-*` copies for messages: after a
    failed attempt the message went out twice, and a permanently refused one was retried on every run. Skip them, as
    the Maildir format (and repoze's own comment) says readers must."""

    def __iter__(self):
        return (path for path in super().__iter__() if not os.path.basename(path).startswith("."))


@dataclass(frozen=True)
class QueuedMessage:
    """A committed message in the queue, parsed by the stdlib's `email` package: headers and body come decoded
    (the file itself is base64 UTF-8)."""

    id: str  # short and stable while the message is queued: a digest of its file name
    path: str  # its file in the Maildir
    message: EmailMessage

    @property
    def recipient(self):
        return str(self.message.get("To") or self.message.get("X-Actually-To") or "").strip()

    @property
    def subject(self):
        return str(self.message.get("Subject") or "").strip()

    @property
    def date(self):
        """When it was queued (its Date header; the file's time without one), an aware datetime in UTC."""
        when = getattr(self.message.get("Date"), "datetime", None)
        if when is None:
            with contextlib.suppress(OSError):
                return datetime.fromtimestamp(os.path.getmtime(self.path), UTC)
            return None
        return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)  # "-0000": UTC

    def text(self):
        """The text/plain body, decoded."""
        part = self.message.get_body(preferencelist=("plain",))
        return part.get_content() if part is not None else ""


def _read_queued(path):
    """The QueuedMessage in the file at `path`, or None when it is gone (delivered meanwhile)."""
    path = str(path)
    try:
        with open(path, "rb") as file:
            message = email.message_from_binary_file(file, policy=email.policy.default)
    except FileNotFoundError:
        return None
    digest = hashlib.sha256(os.path.basename(path).encode()).hexdigest()[:10]
    return QueuedMessage(digest, path, message)


@dataclass(frozen=True)
class DeliveryFailure:
    """A message one delivery attempt could not hand over."""

    message: QueuedMessage
    reason: str  # one line, naming the server
    rejected: bool  # refused permanently and moved aside; False: still queued, tried again by the next run


@dataclass(frozen=True)
class DeliveryReport:
    """The outcome of one pass over the queue (`MailQueue.deliver_queued`)."""

    server: str  # host:port
    delivered: list  # QueuedMessage
    failures: list  # DeliveryFailure
    left: int  # messages still queued

    @property
    def nothing_delivered(self):
        """True when messages were tried and none went out."""
        return bool(self.failures) and not self.delivered


class _QueueProcessor(QueueProcessor):
    """repoze.sendmail's QueueProcessor, reading the queue through `_Maildir`, that releases a message whose delivery
    failed (SMTP server down, a 4xx reply): repoze leaves the `.sending-` lock link behind, which holds the message
    back for MAX_SEND_TIME (3 hours) instead of until the next run. The lock is ours to remove: the mailer is only
    called after this process created it.

    It collects what happened to each message (`delivered`, `failures`) instead of letting repoze log a traceback
    for every failed attempt: the tracebacks go to DEBUG, the caller reports each failure in one line."""

    def __init__(self, mailer, queue_path, server):
        super().__init__(_FailureTrackingMailer(mailer), queue_path, Maildir=_Maildir)
        self.log = _AttemptLog()  # shadows the class's logger, which repoze calls with exc_info
        self.server = server
        self.delivered = []
        self.failures = []

    def _send_message(self, filename):
        queued = _read_queued(filename)  # read first: a delivered message's file is gone afterwards
        if queued is None:  # delivered by another sender meanwhile
            return
        self.mailer.failed = self.mailer.sent = False
        self.mailer.error = self.log.exception = None
        super()._send_message(filename)  # hands every error to self.log
        if self.mailer.sent:
            self.delivered.append(queued)
            return
        error = self.mailer.error or self.log.exception
        if error is None:  # another sender holds its lock: left to it
            return
        still_queued = os.path.exists(filename)
        if self.mailer.failed and still_queued:  # not sent, not moved aside as rejected
            head, tail = os.path.split(filename)
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(head, ".sending-" + tail))
        self.failures.append(DeliveryFailure(queued, _reason(error, self.server), rejected=not still_queued))


class _AttemptLog:
    """Stands in for the QueueProcessor's logger, which logs each failed attempt with its traceback: keeps the
    exception for the one-line report and logs repoze's messages (with tracebacks) at DEBUG only."""

    def __init__(self):
        self.exception = None

    def info(self, msg, *args, **_kwargs):
        logger.debug(msg, *args)

    def error(self, msg, *args, exc_info=False, **_kwargs):
        if exc_info:
            self.exception = sys.exc_info()[1]
        logger.debug(msg, *args, exc_info=exc_info)


class _FailureTrackingMailer:
    """Wraps the SMTPMailer: notes a delivery (`sent`) or a failed attempt (`failed`, `error`), and reports a
    permanent refusal of every recipient (RCPT TO 5xx: smtplib's SMTPRecipientsRefused, which repoze does not
    recognise, so it retried the message on every run forever) as the SMTPResponseException repoze moves aside as
    rejected."""

    def __init__(self, mailer):
        self.mailer = mailer
        self.failed = self.sent = False
        self.error = None

    def send(self, fromaddr, toaddrs, message):
        try:
            self.mailer.send(fromaddr, toaddrs, message)
        except smtplib.SMTPRecipientsRefused as error:
            self.failed, self.error = True, error
            replies = list(error.recipients.values())
            if replies and all(500 <= code <= 599 for code, _ in replies):
                raise smtplib.SMTPResponseException(*replies[0]) from error
            raise
        except BaseException as error:
            self.failed, self.error = True, error
            raise
        self.sent = True


def _reason(error, server):
    """Why an attempt to deliver to `server` failed, in one line."""
    if isinstance(error, smtplib.SMTPRecipientsRefused) and error.recipients:
        code, reply = next(iter(error.recipients.values()))
        return f"{server} refused the recipient: {code} {_reply_text(reply)}"
    if isinstance(error, smtplib.SMTPResponseException):
        return f"{server} answered {error.smtp_code} {_reply_text(error.smtp_error)}"
    if isinstance(error, smtplib.SMTPServerDisconnected):
        return f"{server} closed the connection ({error or 'no reason given'})"
    if isinstance(error, smtplib.SMTPException):  # an OSError too: test it first
        return f"{server}: {error}"
    if isinstance(error, OSError):  # refused, unknown host, timed out, TLS
        return f"cannot connect to {server}: {error.strerror or error or type(error).__name__}"
    return f"{server}: {type(error).__name__}: {error}"


def _reply_text(reply):
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return " ".join(text.split())


def _ascii_address(address):
    """`address` with its domain in IDNA (punycode) form, or None when its local part is not ASCII (registration
    refuses those; an older or provider-made account may still have one)."""
    local, _, domain = address.rpartition("@")
    if not local.isascii():
        return None
    try:
        return f"{local}@{domain.encode('idna').decode('ascii')}"
    except UnicodeError:
        return None
