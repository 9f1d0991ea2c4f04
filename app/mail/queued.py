"""Reading the mail queue: the committed messages waiting for `flask send-mail`, decoded for `flask mail list` and
`flask mail show` (in development, the verification or reset token without an SMTP server).

Files are parsed by the stdlib's `email` package (policy `email.policy.default`), which decodes RFC 2047 headers and
base64 or quoted-printable (RFC 2045) bodies.
"""
import contextlib
import email
import email.policy
import hashlib
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage

from flask import Config
from injector import inject

from app.mail.maildir import QueueMaildir, ensure_maildir


@dataclass(frozen=True)
class QueuedMessage:
    """A committed message in the queue, parsed by the stdlib's `email` package: headers and body come decoded
    (the file itself is base64 UTF-8)."""

    id: str  # short and stable while the message is queued: 10 hex digits of a SHA-256 of its file name
    path: str  # its file in the Maildir
    message: EmailMessage

    @property
    def recipient(self):
        """The To header (the envelope recipient without one), stripped; "" when neither is there."""
        return str(self.message.get("To") or self.message.get("X-Actually-To") or "").strip()

    @property
    def subject(self):
        """The Subject header, decoded and stripped; "" without one."""
        return str(self.message.get("Subject") or "").strip()

    @property
    def date(self):
        """When it was queued (its RFC 5322 Date header; the file's time without one), an aware datetime in UTC;
        None when neither can be read."""
        when = getattr(self.message.get("Date"), "datetime", None)
        if when is None:
            with contextlib.suppress(OSError):
                return datetime.fromtimestamp(os.path.getmtime(self.path), UTC)
            return None
        return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)  # "-0000": UTC

    def text(self):
        """The text/plain body, decoded (a str; "" when the message has none): of a multipart/alternative message
        with an HTML part too, its text/plain part."""
        part = self.message.get_body(preferencelist=("plain",))
        return part.get_content() if part is not None else ""


def read_queued(path):
    """The QueuedMessage in the file at `path` (a str or path-like), or None when it is gone (delivered meanwhile).
    Raises OSError when the file exists but cannot be read."""
    path = str(path)
    try:
        with open(path, "rb") as file:
            message = email.message_from_binary_file(file, policy=email.policy.default)
    except FileNotFoundError:
        return None
    digest = hashlib.sha256(os.path.basename(path).encode()).hexdigest()[:10]
    return QueuedMessage(digest, path, message)


class QueuedMail:
    """The committed messages in the mail queue (`MAIL_QUEUE_PATH`), read-only: what `flask mail list` and
    `flask mail show` print. Holds only the setting; each call reads the directory again."""

    @inject
    def __init__(self, config: Config):
        self.queue_path = config["MAIL_QUEUE_PATH"]

    def messages(self):
        """The committed messages waiting in the queue, oldest first (the order `send-mail` delivers them in): a
        list of QueuedMessage. Creates the Maildir when it is missing. Raises OSError (or repoze.sendmail's
        NotAMaildir) when the queue directory cannot be created or read."""
        ensure_maildir(self.queue_path)
        return [queued for queued in map(read_queued, QueueMaildir(self.queue_path)) if queued is not None]

    def find(self, message_id):
        """The queued messages (a list of QueuedMessage) whose id is or starts with `message_id` (case and
        surrounding blanks ignored); [] for an empty `message_id`. Raises as `messages` does."""
        wanted = message_id.strip().lower()
        if not wanted:
            return []
        return [queued for queued in self.messages() if queued.id.startswith(wanted)]
