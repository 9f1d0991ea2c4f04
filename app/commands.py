"""`flask` CLI commands."""
import click
from flask.cli import with_appcontext

from app.dependencies import resolve
from app.errors import DomainError
from app.services.users import UserService


@click.command("create-admin")
@click.option("--email", required=True, help="Email of the admin (an existing account is promoted).")
@click.option("--name", default="Administrator", show_default=True, help="Display name for a new account.")
@click.option("--password", default=None, help="Password; prompted (hidden) when omitted.")
@with_appcontext
def create_admin(email, name, password):
    """Create an admin account, or grant the admin role to an existing account with EMAIL."""
    users = resolve(UserService)
    if password is None:
        exists = users.find_by_email(email) is not None
        if not exists:
            password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user, created = users.ensure_admin(email, name, password)
    except DomainError as error:
        messages = "; ".join(m for msgs in (error.errors or {}).values() for m in msgs) or error.detail
        raise click.ClickException(messages) from error
    click.echo(f"{'Created' if created else 'Promoted'} admin {user.email} (id {user.id})")


def register_commands(app):
    """Add the CLI commands to `app`."""
    app.cli.add_command(create_admin)
