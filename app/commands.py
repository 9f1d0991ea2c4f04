"""`flask` CLI commands: create-admin, purge-expired (cron), send-mail (the mail queue's sender)."""
import logging
import time

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
@with_appcontext
def send_mail(interval):
    """Deliver the messages committed to the mail queue (MAIL_QUEUE_PATH) over SMTP (MAIL_SERVER, MAIL_PORT)."""
    queue = resolve(MailQueue)
    while True:
        left = queue.deliver_queued()
        if interval is None:
            click.echo(f"Mail queue processed; {left} message(s) left for a later attempt")
            return
        time.sleep(interval)


def register_commands(app):
    """Add the CLI commands to `app`."""
    for command in (create_admin, purge_expired, send_mail):
        app.cli.add_command(command)
