"""`flask` CLI commands: create-admin, purge-expired (cron), send-mail (the mail queue's sender)."""
import logging
import signal
import threading
from pathlib import Path

import click
from flask.cli import with_appcontext

from app.dependencies import resolve
from app.errors import DomainError
from app.services.mail import MailQueue
from app.services.one_time_tokens import OneTimeTokenService
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
    """Delete expired sessions (with their refresh tokens) and expired mailed tokens. Run it daily from cron."""
    sessions = resolve(SessionService).purge_expired()
    mailed = resolve(OneTimeTokenService).purge_expired()
    click.echo(f"Deleted {sessions} expired session(s) and {mailed} expired mailed token(s)")


@click.command("send-mail")
@click.option("--loop", "interval", type=click.FloatRange(min=0.1), default=None,
              help="Keep running, checking the queue every INTERVAL seconds (the compose `mailer` service).")
@click.option("--heartbeat-file", type=click.Path(dir_okay=False, writable=True), default=None,
              help="With --loop: touch this file after every pass, so that a health check can tell a live loop "
                   "from a stuck one by its age.")
@with_appcontext
def send_mail(interval, heartbeat_file):
    """Deliver the messages committed to the mail queue (MAIL_QUEUE_PATH) over SMTP (MAIL_SERVER, MAIL_PORT).

    With --loop, SIGTERM and SIGINT end the loop cleanly: a pass under way finishes its deliveries (a message is never
    cut off mid-conversation), then the command exits 0. As a container's PID 1 (compose `mailer`), this is what
    `docker stop` needs: the kernel gives PID 1 no default action for SIGTERM.
    """
    queue = resolve(MailQueue)
    if interval is None:
        left = queue.deliver_queued()
        click.echo(f"Mail queue processed; {left} message(s) left for a later attempt")
        return
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda received, _frame: stopping.set())
    logger.info("delivering the mail queue every %s s", interval)
    while not stopping.is_set():
        queue.deliver_queued()
        if heartbeat_file:
            Path(heartbeat_file).touch()
        stopping.wait(interval)
    logger.info("mail sender stopped (signal received); the queue keeps what is left")


def register_commands(app):
    """Add the CLI commands to `app`."""
    for command in (create_admin, purge_expired, send_mail):
        app.cli.add_command(command)
