"""`flask --app iam oidc-client ensure ...`: register or update a client (idempotent; make run, tests)."""

from __future__ import annotations

import os

import click
from flask import Flask
from flask.cli import AppGroup

from iam.extensions import db
from iam.oidc import clients

group = AppGroup("oidc-client", help="OpenID Connect clients of IAM.")


@group.command("ensure")
@click.option("--client-id", required=True)
@click.option("--name", default=None, help="Shown to users; defaults to the client id.")
@click.option(
    "--secret-env",
    default=None,
    help="Name of the environment variable holding the client secret (kept out of the process list).",
)
@click.option("--redirect-uri", "redirect_uris", multiple=True, required=True)
@click.option("--post-logout-redirect-uri", "logout_uris", multiple=True)
@click.option("--scope", "scopes", multiple=True, help="Defaults to openid profile email.")
@click.option("--trusted/--not-trusted", default=True, help="First party: no consent screen.")
def ensure(
    client_id: str,
    name: str | None,
    secret_env: str | None,
    redirect_uris: tuple[str, ...],
    logout_uris: tuple[str, ...],
    scopes: tuple[str, ...],
    trusted: bool,
) -> None:
    """Create the client or bring it to exactly these settings."""
    secret = None
    if secret_env:
        secret = os.environ.get(secret_env)
        if not secret:
            raise click.UsageError(f"environment variable {secret_env} is empty")
    try:
        outcome = clients.ensure(
            db,
            client_id=client_id,
            name=name or client_id,
            secret=secret,
            redirect_uris=list(redirect_uris),
            post_logout_redirect_uris=list(logout_uris),
            scopes=list(scopes) or None,
            trusted=trusted,
        )
    except clients.InvalidClientSettings as error:
        raise click.UsageError(str(error)) from None
    click.echo(f"iam: oidc client {client_id} {outcome}")


def register_cli(app: Flask) -> None:
    app.cli.add_command(group)
