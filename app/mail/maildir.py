"""The mail queue on disk: a Maildir (https://cr.yp.to/proto/maildir.html) at `MAIL_QUEUE_PATH` holding one
RFC 5322 message per file. `MailQueue` writes it, `QueuedMail` reads it, `MailSender` empties it.

A message is committed once its file is in `new/` (or `cur/`); `tmp/` holds files being written. Names starting with
a dot are not messages: repoze.sendmail's `.sending-*` locks and `.rejected-*` copies.
"""
import os

from repoze.sendmail.maildir import Maildir

SUBDIRECTORIES = ("new", "cur", "tmp")


def ensure_maildir(path):
    """Create the Maildir at `path` (its `new/`, `cur/` and `tmp/`) where it is missing; an existing one is left
    as it is. Raises OSError when a directory cannot be created (permissions, a file in the way, a full disk)."""
    for sub in SUBDIRECTORIES:
        os.makedirs(os.path.join(path, sub), exist_ok=True)


def count_queued(path):
    """How many committed messages the Maildir at `path` holds (files in `new/` and `cur/`, dot-files aside).
    Raises OSError when either directory cannot be listed."""
    return sum(not name.startswith(".") for sub in ("new", "cur") for name in os.listdir(os.path.join(path, sub)))


class QueueMaildir(Maildir):
    """repoze.sendmail's Maildir, iterating over the committed messages only (paths of the files in `new/` and
    `cur/`).

    repoze.sendmail 4.5's Maildir lists `new/` and `cur/` with pathlib's glob, which (unlike glob.glob) includes
    dot-files, so the QueueProcessor took its own `.sending-*` locks and `.rejected-*` copies for messages: after a
    failed attempt the message went out twice, and a permanently refused one was retried on every run. This skips
    them, as the Maildir format (and repoze's own comment) says readers must."""

    def __iter__(self):
        return (path for path in super().__iter__() if not os.path.basename(path).startswith("."))
