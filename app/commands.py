"""`flask` CLI commands."""
import click
from flask.cli import with_appcontext

from app.dependencies import resolve
from app.errors import DomainError
from app.services.users import UserService


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


def register_commands(app):
    """Add the CLI commands to `app`."""
    app.cli.add_command(create_admin)
