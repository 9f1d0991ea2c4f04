"""Queuing mail in the transaction of the change that causes it (repoze.sendmail's QueuedMailDelivery).

`MailQueue.send` writes the message into the Maildir queue (`MAIL_QUEUE_PATH`, app/mail/maildir.py) at once and
joins the current zope transaction: the file becomes visible to the sender only when the transaction commits (the
database commits first, in its vote; the file is moved into `new/` in tpc_finish); an aborted transaction deletes
it. A failure to write the file raises inside the transaction, which then rolls the database work back.
"""
import logging
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import parseaddr

from flask import Config
from injector import inject
from repoze.sendmail.delivery import QueuedMailDelivery
from repoze.sendmail.maildir import NotAMaildir

from app.errors import DependencyUnavailable
from app.mail.maildir import ensure_maildir

logger = logging.getLogger(__name__)


class MailQueue:
    """Queues messages (plain text, with an optional HTML alternative) in the current transaction. Stateless apart
    from settings: bind as singleton.

    Settings: `MAIL_QUEUE_PATH` (the Maildir, created here when missing; a failure to create it is logged and
    reported again, as DependencyUnavailable, by the first `send`) and `MAIL_DEFAULT_SENDER` (the From header, an
    RFC 5322 address such as `Gatehouse <no-reply@example.com>`). Opens no socket and delivers nothing: that is
    `flask send-mail` (app/mail/delivery.py).
    """

    @inject
    def __init__(self, config: Config):
        self.queue_path = config["MAIL_QUEUE_PATH"]
        self.sender = config["MAIL_DEFAULT_SENDER"]
        self._delivery = QueuedMailDelivery(self.queue_path)
        try:
            ensure_maildir(self.queue_path)
        except OSError as error:  # reported again, as a 503, by the first send
            logger.warning("mail queue %s cannot be created: %s", self.queue_path, error)

    def send(self, to, subject, body, html=None):
        """Queue a message to `to` (one address, a str) in the current transaction; returns its Message-Id (a str,
        `<...@host>`), or None, sending nothing, for an address the transport cannot carry (a non-ASCII local part:
        that needs SMTPUTF8, RFC 6531).

        The message is RFC 5322 with MIME (RFC 2045) UTF-8 base64 bodies: `body` (a str) as text/plain, or, with
        `html` (a str: an HTML document), a multipart/alternative of `body` as text/plain first and `html` as
        text/html second (RFC 2046 5.1.4: the last part is the preferred one; text-only readers show the first).
        From is MAIL_DEFAULT_SENDER, To is `to` with its domain in IDNA (punycode) form, Subject is `subject`
        (RFC 2047-encoded when not ASCII); Date and Message-Id are added by repoze.sendmail.

        Raises DependencyUnavailable when the queue cannot be written (full disk, permissions, not a Maildir):
        raised inside the caller's unit of work, it aborts the database work too.
        """
        to = _ascii_address(to)
        if to is None:
            logger.warning("not mailing an address with a non-ASCII local part (needs SMTPUTF8)")
            return None
        message = _mime(body, html)
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject
        try:
            return self._delivery.send(parseaddr(self.sender)[1], [to], message)  # envelope: the bare address
        except (OSError, NotAMaildir) as error:
            logger.error("mail queue %s is not writable: %s", self.queue_path, error.__class__.__name__)
            raise DependencyUnavailable("Mail cannot be queued right now; nothing was changed. Try again.") from error


def _mime(body, html):
    """The MIME structure of a message: text/plain `body`, or multipart/alternative of it and text/html `html`;
    each text part UTF-8, base64 (the MIMEText default for UTF-8).

    Compat32 MIME classes, not `EmailMessage.set_content`/`add_alternative`: repoze.sendmail rewrites every header
    in place, folded, which EmailMessage's policy refuses, and gives a part without a charset (as a re-parsed
    EmailMessage's parts are) "us-ascii", garbling its UTF-8 body. MIMEText parts carry their charset."""
    text = MIMEText(body, "plain", "utf-8")
    if html is None:
        return text
    message = MIMEMultipart("alternative")
    for part in (text, MIMEText(html, "html", "utf-8")):
        del part["MIME-Version"]  # the message's own header says it; parts need none (RFC 2045 4)
        message.attach(part)
    return message


def _ascii_address(address):
    """`address` with its domain in IDNA (punycode, RFC 3490) form, or None when its local part is not ASCII
    (registration refuses those; an older or provider-made account may still have one) or its domain cannot be
    encoded."""
    local, _, domain = address.rpartition("@")
    if not local.isascii():
        return None
    try:
        return f"{local}@{domain.encode('idna').decode('ascii')}"
    except UnicodeError:
        return None
