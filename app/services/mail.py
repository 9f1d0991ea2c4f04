"""Transactional mail through repoze.sendmail: messages join the zope transaction of the change that causes them.

`MailQueue.send` writes the message into a Maildir queue (`MAIL_QUEUE_PATH`) at once and makes it visible to the
sender only when the transaction commits (the database commits first, in its vote; the file is moved into `new/`
in tpc_finish); an aborted transaction deletes it. A failure to write the queue file raises inside the transaction,
which then rolls the database work back. `flask send-mail` (repoze.sendmail's QueueProcessor) delivers queued
messages over SMTP (`MAIL_SERVER`, `MAIL_PORT`, ...), once or in a loop.
"""
import contextlib
import logging
import os
import smtplib
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
        """Send every committed message in the queue over SMTP (repoze.sendmail QueueProcessor). A message the
        server refuses permanently is moved aside and logged; a transient failure leaves it queued for the next run.
        Returns the number of messages left in the queue."""
        self._ensure_maildir()
        _QueueProcessor(self.mailer(), self.queue_path).send_messages()
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


class _QueueProcessor(QueueProcessor):
    """repoze.sendmail's QueueProcessor, reading the queue through `_Maildir`, that releases a message whose delivery
    failed (SMTP server down, a 4xx reply): repoze leaves the `.sending-` lock link behind, which holds the message
    back for MAX_SEND_TIME (3 hours) instead of until the next run. The lock is ours to remove: the mailer is only
    called after this process created it."""

    def __init__(self, mailer, queue_path):
        super().__init__(_FailureTrackingMailer(mailer), queue_path, Maildir=_Maildir)

    def _send_message(self, filename):
        self.mailer.failed = False
        super()._send_message(filename)  # logs and swallows every error
        if self.mailer.failed and os.path.exists(filename):  # not sent, not moved aside as rejected
            head, tail = os.path.split(filename)
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(head, ".sending-" + tail))


class _FailureTrackingMailer:
    """Wraps the SMTPMailer: notes a failed attempt, and reports a permanent refusal of every recipient (RCPT TO 5xx:
    smtplib's SMTPRecipientsRefused, which repoze does not recognise, so it retried the message on every run
    forever) as the SMTPResponseException repoze moves aside as rejected."""

    def __init__(self, mailer):
        self.mailer = mailer
        self.failed = False

    def send(self, fromaddr, toaddrs, message):
        try:
            self.mailer.send(fromaddr, toaddrs, message)
        except smtplib.SMTPRecipientsRefused as error:
            self.failed = True
            replies = list(error.recipients.values())
            if replies and all(500 <= code <= 599 for code, _ in replies):
                raise smtplib.SMTPResponseException(*replies[0]) from error
            raise
        except BaseException:
            self.failed = True
            raise


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
