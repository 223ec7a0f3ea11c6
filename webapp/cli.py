"""``flask`` commands for operators: the same services as the pages, no second code path."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from webapp.extensions import db
from webapp.models import Role
from webapp.services import accounts


def register(app: Flask) -> None:
    app.cli.add_command(users)


users = AppGroup("users", help="Manage dashboard users.")


@users.command("create")
@click.argument("email")
@click.option(
    "--role",
    type=click.Choice([r.value for r in Role]),
    default=Role.SENDER.value,
    show_default=True,
)
@click.password_option(help="Prompted for when not given.")
def create_user(email: str, role: str, password: str):
    """Create a user who can sign in with EMAIL."""
    try:
        user = accounts.create_user(db.session, email, password, Role(role))
    except accounts.AccountError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"Created {user.email} ({user.role.value}).")
