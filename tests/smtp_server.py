"""A real SMTP server for tests: aiosmtpd on 127.0.0.1 (a port the OS picks), recording every message it accepts.

    with SmtpServer() as smtp:           # or the `smtp_server` fixture of tests/test_mail.py
        ...deliver to 127.0.0.1:smtp.port...
        smtp.messages                    # [Received(mail_from, rcpt_tos, message), ...]
        smtp.stop(); smtp.start()        # down, then back on the same port
        smtp.data_reply = "451 4.3.0 Try later"   # refuse the next messages after DATA (None: accept again)
        smtp.rcpt_reply = "550 5.1.1 No such user"  # refuse every recipient (RCPT TO) instead
"""
import email
import email.policy
import threading
from dataclasses import dataclass
from email.message import EmailMessage

from aiosmtpd.controller import Controller

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Received:
    """One accepted message: the SMTP envelope and the parsed message."""

    mail_from: str
    rcpt_tos: tuple
    message: EmailMessage

    @property
    def body(self):
        """The text/plain body, decoded (of a multipart/alternative message: its text/plain part)."""
        return self.message.get_body(preferencelist=("plain",)).get_content()

    @property
    def html(self):
        """The text/html part, decoded; None when the message has none."""
        part = self.message.get_body(preferencelist=("html",))
        return part.get_content() if part is not None else None


class _RecordingHandler:
    def __init__(self, server):
        self.server = server

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802  (aiosmtpd's hook)
        if self.server.rcpt_reply is not None:
            return self.server.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        if self.server.data_reply is not None:
            return self.server.data_reply
        message = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        with self.server.lock:
            self.server.messages.append(Received(envelope.mail_from, tuple(envelope.rcpt_tos), message))
        return "250 2.0.0 Message accepted for delivery"


class _Controller(Controller):
    """Controller that may listen on port 0: it learns the port the OS chose before its self-test connection."""

    def _trigger_server(self):
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class SmtpServer:
    """An aiosmtpd server in a thread. `port` stays the same across stop() and start()."""

    def __init__(self, port=0):
        self.port = port
        self.messages = []
        self.data_reply = None  # an SMTP reply line ("451 ...", "550 ...") to refuse messages with, after DATA
        self.rcpt_reply = None  # the same, to refuse every recipient with (RCPT TO)
        self.lock = threading.Lock()
        self._controller = None

    def start(self):
        assert self._controller is None, "already running"
        controller = _Controller(_RecordingHandler(self), hostname=HOST, port=self.port)
        controller.start()
        self._controller, self.port = controller, controller.port
        return self

    def stop(self):
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def running(self):
        return self._controller is not None

    def to(self, address):
        """The accepted messages whose envelope recipients include `address`."""
        with self.lock:
            return [m for m in self.messages if address in m.rcpt_tos]

    def clear(self):
        with self.lock:
            self.messages.clear()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
