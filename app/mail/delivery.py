"""Delivering the mail queue over SMTP (RFC 5321): what `flask send-mail` runs, once or in a loop.

`MailSender.deliver` hands every committed message to the SMTP server (`MAIL_SERVER`, `MAIL_PORT`, ...) through
repoze.sendmail's QueueProcessor and returns a DeliveryReport: what went out, what did not and why (one line per
message, no traceback), and how many messages are left. The subclasses here fix five behaviours of repoze.sendmail
4.5: its own lock files taken for messages (app/mail/maildir.py), a failed message held back for 3 hours, a
recipient refused for good retried forever, messages sent with bare LF line ends, and UTF-8 parts relabelled
"us-ascii" (`_SMTPMailer`).
"""
import contextlib
import logging
import os
import re
import smtplib
import sys
from dataclasses import dataclass

from flask import Config
from injector import inject
from repoze.sendmail.mailer import SMTPMailer
from repoze.sendmail.queue import QueueProcessor

from app.mail.maildir import QueueMaildir, count_queued, ensure_maildir
from app.mail.queued import QueuedMessage, read_queued

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeliveryFailure:
    """A message one delivery attempt could not hand over."""

    message: QueuedMessage
    reason: str  # one line, naming the server
    rejected: bool  # refused permanently and moved aside; False: still queued, tried again by the next run


@dataclass(frozen=True)
class DeliveryReport:
    """The outcome of one pass over the queue (`MailSender.deliver`)."""

    server: str  # host:port
    delivered: list  # QueuedMessage
    failures: list  # DeliveryFailure
    left: int  # messages still queued

    @property
    def nothing_delivered(self):
        """True when messages were tried and none went out."""
        return bool(self.failures) and not self.delivered


class MailSender:
    """Delivers the mail queue (`MAIL_QUEUE_PATH`) to the configured SMTP server: `MAIL_SERVER`, `MAIL_PORT`,
    `MAIL_USERNAME` / `MAIL_PASSWORD` (AUTH when set), `MAIL_USE_TLS` (STARTTLS, RFC 3207) or `MAIL_USE_SSL`
    (implicit TLS). Holds only settings: the constructor opens no connection."""

    @inject
    def __init__(self, config: Config):
        self.queue_path = config["MAIL_QUEUE_PATH"]
        self._config = config

    @property
    def server(self):
        """`host:port` of the SMTP server messages are delivered to."""
        return f"{self._config['MAIL_SERVER']}:{self._config['MAIL_PORT']}"

    def mailer(self):
        """The repoze.sendmail SMTPMailer for the configured server (STARTTLS or implicit TLS when asked)."""
        c = self._config
        return _SMTPMailer(hostname=c["MAIL_SERVER"], port=c["MAIL_PORT"], username=c["MAIL_USERNAME"] or None,
                          password=c["MAIL_PASSWORD"] or None, no_tls=not (c["MAIL_USE_TLS"] or c["MAIL_USE_SSL"]),
                          force_tls=c["MAIL_USE_TLS"], ssl=c["MAIL_USE_SSL"])

    def deliver(self):
        """Send every committed message in the queue over SMTP (repoze.sendmail QueueProcessor), oldest first, one
        SMTP conversation per message. A message the server refuses permanently (a 5xx reply, RFC 5321 4.2.1) is
        moved aside (a `.rejected-` copy) and not retried; any other failure (server unreachable, a 4xx reply)
        leaves it queued for the next run. Returns a DeliveryReport: what went out, what did not and why (no
        traceback is logged), and how many messages are left.

        Delivery failures are reported, not raised. Raises OSError (or repoze.sendmail's NotAMaildir) when the
        queue directory cannot be created or read."""
        ensure_maildir(self.queue_path)
        processor = _QueueProcessor(self.mailer(), self.queue_path, self.server)
        processor.send_messages()
        return DeliveryReport(self.server, processor.delivered, processor.failures, count_queued(self.queue_path))


_LINE_END = re.compile(rb"\r\n|\r|\n")


class _CrlfLines:
    """An smtplib connection that sends a bytes message with CRLF line ends, as RFC 5321 (2.3.8) requires: smtplib
    converts only str messages, and repoze.sendmail hands it bytes with bare LF line ends. Strict servers refuse
    bare LF (Postfix's smtpd_forbid_bare_newline, against SMTP smuggling), and aiosmtpd reads such a message as one
    line, refused (500 Line too long) once it passes 1000 bytes."""

    def sendmail(self, from_addr, to_addrs, msg, *args, **kwargs):
        if isinstance(msg, bytes):
            msg = _LINE_END.sub(b"\r\n", msg)
        return super().sendmail(from_addr, to_addrs, msg, *args, **kwargs)


class _SMTP(_CrlfLines, smtplib.SMTP):
    pass


class _SMTPSSL(_CrlfLines, smtplib.SMTP_SSL):
    pass


class _SMTPMailer(SMTPMailer):
    """repoze.sendmail's SMTPMailer, sending CRLF line ends (`_CrlfLines`) and keeping the charset of each text
    part: repoze's encode_message labels a part without a Charset object (every part of a message parsed back from
    the queue) "us-ascii", which garbles a UTF-8 body; the charset its Content-Type declares is set on it first."""

    smtp = _SMTP
    smtp_ssl = _SMTPSSL

    def send(self, fromaddr, toaddrs, message):
        for part in message.walk():
            charset = None if part.is_multipart() else part.get_content_charset()
            if charset and part.get_charset() is None:
                part.set_charset(charset)
        super().send(fromaddr, toaddrs, message)


class _QueueProcessor(QueueProcessor):
    """repoze.sendmail's QueueProcessor, reading the queue through `QueueMaildir`, that releases a message whose
    delivery failed (SMTP server down, a 4xx reply): repoze leaves the `.sending-` lock link behind, which holds the
    message back for MAX_SEND_TIME (3 hours) instead of until the next run. The lock is ours to remove: the mailer
    is only called after this process created it.

    It collects what happened to each message (`delivered`, `failures`) instead of letting repoze log a traceback
    for every failed attempt: the tracebacks go to DEBUG, the caller reports each failure in one line."""

    def __init__(self, mailer, queue_path, server):
        super().__init__(_FailureTrackingMailer(mailer), queue_path, Maildir=QueueMaildir)
        self.log = _AttemptLog()  # shadows the class's logger, which repoze calls with exc_info
        self.server = server
        self.delivered = []
        self.failures = []

    def _send_message(self, filename):
        queued = read_queued(filename)  # read first: a delivered message's file is gone afterwards
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
