"""`flask` CLI commands: create-admin, purge-expired (cron), send-mail (the mail queue's sender), and `mail list` /
`mail show` (read the queue: in development, the verification or reset token without an SMTP server)."""
import contextlib
import logging
import signal
import threading
from pathlib import Path

import click
from flask.cli import AppGroup, with_appcontext
from repoze.sendmail.maildir import NotAMaildir

from app.dependencies import resolve
from app.errors import DomainError
from app.mail import MailSender, QueuedMail
from app.services.mfa import MfaService
from app.services.one_time_tokens import OneTimeTokenService
from app.services.personal_tokens import PersonalTokenService
from app.services.sessions import SessionService
from app.services.users import UserService

logger = logging.getLogger(__name__)


@click.command("create-admin")
@click.option("--email", required=True, envvar="FIRST_ADMIN_EMAIL", show_envvar=True,
              help="Email of the admin; an existing account with it is promoted.")
@click.option("--name", default="Administrator", show_default=True, help="Display name for a new account.")
@click.option("--password", default=None, envvar="FIRST_ADMIN_PASSWORD", show_envvar=True,
              help="Password for a new account; prompted (hidden) when omitted. An existing account keeps its own.")
@with_appcontext
def create_admin(email, name, password):
    """Create an admin account, or grant the admin role to the existing account with EMAIL."""
    users = resolve(UserService)
    if password is None and users.find_by_email(email) is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user, created = users.ensure_admin(email, name, password)
    except DomainError as error:
        messages = "; ".join(m for msgs in (error.errors or {}).values() for m in msgs) or error.detail
        raise click.ClickException(messages) from error
    if created:
        click.echo(f"Created admin {user.email} (id {user.id})")
    else:
        click.echo(f"Promoted {user.email} (id {user.id}) to admin; password unchanged")


@click.command("purge-expired")
@with_appcontext
def purge_expired():
    """Delete expired sessions (with their refresh tokens), expired mailed tokens, expired pending second-factor
    sign-ins and WebAuthn ceremonies, and expired personal access tokens. Run it daily from cron."""
    sessions = resolve(SessionService).purge_expired()
    mailed = resolve(OneTimeTokenService).purge_expired()
    pending = resolve(MfaService).purge_expired()
    personal = resolve(PersonalTokenService).purge_expired()
    click.echo(f"Deleted {sessions} expired session(s), {mailed} expired mailed token(s), {pending} expired "
               f"second-factor sign-in(s) or passkey ceremonies and {personal} expired personal access token(s)")


@click.command("send-mail")
@click.option("--loop", "interval", type=click.FloatRange(min=0.1), default=None,
              help="Keep running, checking the queue every INTERVAL seconds (the compose `mailer` service).")
@click.option("--heartbeat-file", type=click.Path(dir_okay=False, writable=True), default=None,
              help="With --loop: touch this file after every pass, so that a health check can tell a live loop "
                   "from a stuck one by its age.")
@with_appcontext
def send_mail(interval, heartbeat_file):
    """Deliver the messages committed to the mail queue (MAIL_QUEUE_PATH) over SMTP (MAIL_SERVER, MAIL_PORT).

    Each message that could not be delivered gets one line: which server was tried and why. A message the server
    refused permanently (5xx) is moved aside; any other failure keeps it queued for the next run. Without --loop the
    command exits 1 when messages were tried and none went out (no SMTP server: read them with `flask mail list`).

    With --loop, failures are logged (one line each) and the loop keeps going; SIGTERM and SIGINT end it cleanly: a
    pass under way finishes its deliveries (a message is never cut off mid-conversation), then the command exits 0.
    As a container's PID 1 (compose `mailer`), this is what `docker stop` needs: the kernel gives PID 1 no default
    action for SIGTERM.
    """
    sender = resolve(MailSender)
    if interval is None:
        with _readable(sender):
            report = sender.deliver()
        for failure in report.failures:
            click.echo(_failure_line(failure), err=True)
        click.echo(f"Delivered {len(report.delivered)} message(s) to {report.server}; "
                   f"{report.left} message(s) left in the queue for a later attempt")
        if report.nothing_delivered:
            raise click.exceptions.Exit(1)
        return
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda received, _frame: stopping.set())
    logger.info("delivering the mail queue every %s s", interval)
    while not stopping.is_set():
        report = sender.deliver()
        for failure in report.failures:
            logger.warning("%s", _failure_line(failure))
        if report.delivered:
            logger.info("delivered %d message(s) to %s", len(report.delivered), report.server)
        if heartbeat_file:
            Path(heartbeat_file).touch()
        stopping.wait(interval)
    logger.info("mail sender stopped (signal received); the queue keeps what is left")


@contextlib.contextmanager
def _readable(queue):
    """Report a queue directory that cannot be read or created in one line (`queue`: a QueuedMail or MailSender)."""
    try:
        yield
    except (OSError, NotAMaildir) as error:
        raise click.ClickException(f"The mail queue {queue.queue_path} (MAIL_QUEUE_PATH) cannot be used: "
                                   f"{getattr(error, 'strerror', None) or error}") from error


def _failure_line(failure):
    fate = "refused for good, moved aside" if failure.rejected else "kept in the queue"
    return f"Not delivered ({fate}): {failure.message.id} to {failure.message.recipient}: {failure.reason}"


mail = AppGroup("mail", help="Read the mail queue (MAIL_QUEUE_PATH): the messages `send-mail` has yet to deliver.")


@mail.command("list")
def list_mail():
    """One line per queued message, oldest first: id, date (UTC), recipient, subject."""
    queue = resolve(QueuedMail)
    with _readable(queue):
        messages = queue.messages()
    if not messages:
        click.echo(f"No message in the mail queue ({queue.queue_path})", err=True)
    for message in messages:
        when = message.date.strftime("%Y-%m-%dT%H:%M:%SZ") if message.date else "-"
        click.echo(f"{message.id}  {when}  {message.recipient}  {message.subject}")


@mail.command("show")
@click.argument("message_id")
def show_mail(message_id):
    """Print one queued message, its headers and text decoded (the link or token it carries).

    MESSAGE_ID is an id `flask mail list` shows; its first few characters do when no other id starts with them.
    """
    queue = resolve(QueuedMail)
    with _readable(queue):
        matches = queue.find(message_id)
    if not matches:
        raise click.ClickException(f"No queued message has the id {message_id!r} (see `flask mail list`)")
    if len(matches) > 1:
        raise click.ClickException(f"{message_id!r} starts several ids: {', '.join(m.id for m in matches)}")
    queued = matches[0]
    click.echo(f"Id: {queued.id}")
    for name in ("Date", "From", "To", "Subject", "Message-Id"):
        if queued.message.get(name) is not None:
            click.echo(f"{name}: {str(queued.message.get(name)).strip()}")  # a folded value starts with a space
    click.echo(f"File: {queued.path}")
    click.echo()
    click.echo(queued.text().rstrip("\n"))


def register_commands(app):
    """Add the CLI commands to `app`."""
    for command in (create_admin, purge_expired, send_mail, mail):
        app.cli.add_command(command)
