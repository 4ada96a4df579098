"""`flask --app iam oidc-client ...`: register or update a client, rotate its secret, list the registry.

- `ensure`: create the client or bring it to exactly these settings (idempotent; make run, deployments).
  Secret: `--secret-env NAME` sets the one in that environment variable (kept out of the process list);
  `--public` makes a public client (PKCE only); with neither, the client is confidential and keeps its
  secret, and IAM generates one when it has none: printed once.
- `rotate-secret`: a new secret, printed once; the old one works for `--grace-seconds` (default 0).
- `list`: the registry, one client a line (never a secret).
Every change is audited with the actor ops:cli.
"""

from __future__ import annotations

import os

import click
from flask.cli import AppGroup

from iam.audit.service import Origin
from iam.clients import service as clients
from iam.extensions import db

group = AppGroup("oidc-client", help="OpenID Connect clients of IAM.")
ACTOR = "ops:cli"


def _origin(command: str) -> Origin:
    return Origin(source_address="cli", user_agent=f"flask oidc-client {command}")


@group.command("ensure")
@click.option("--client-id", required=True)
@click.option("--name", default=None, help="Shown to users; defaults to the client id.")
@click.option(
    "--secret-env",
    default=None,
    help="Name of the environment variable holding the client secret (kept out of the process list).",
)
@click.option("--public", is_flag=True, help="A public client: no secret, PKCE only.")
@click.option("--redirect-uri", "redirect_uris", multiple=True, help="Exact; repeat for several.")
@click.option("--post-logout-redirect-uri", "logout_uris", multiple=True)
@click.option("--scope", "scopes", multiple=True, help="Defaults to openid profile email.")
@click.option(
    "--grant-type",
    "grant_types",
    multiple=True,
    type=click.Choice(clients.SUPPORTED_GRANTS),
    help="Defaults to authorization_code refresh_token.",
)
@click.option("--trusted/--not-trusted", default=True, help="First party: no consent screen.")
@click.option("--access-token-ttl", type=int, default=clients.DEFAULT_ACCESS_TOKEN_TTL, show_default=True)
@click.option("--refresh-token-ttl", type=int, default=clients.DEFAULT_REFRESH_TOKEN_TTL, show_default=True)
@click.option("--refresh-family-ttl", type=int, default=clients.DEFAULT_REFRESH_FAMILY_TTL, show_default=True)
@click.option(
    "--id-token-alg",
    type=click.Choice(clients.ID_TOKEN_ALGORITHMS),
    default=clients.DEFAULT_ID_TOKEN_ALG,
    show_default=True,
)
@click.option("--audience", "audiences", multiple=True, help="Defaults to urn:polis:<api> of each API scope.")
@click.option("--service-role", "service_roles", multiple=True, help="Roles of client-credentials tokens.")
@click.option("--backchannel-logout-uri", default=None)
def ensure(
    client_id: str,
    name: str | None,
    secret_env: str | None,
    public: bool,
    redirect_uris: tuple[str, ...],
    logout_uris: tuple[str, ...],
    scopes: tuple[str, ...],
    grant_types: tuple[str, ...],
    trusted: bool,
    access_token_ttl: int,
    refresh_token_ttl: int,
    refresh_family_ttl: int,
    id_token_alg: str,
    audiences: tuple[str, ...],
    service_roles: tuple[str, ...],
    backchannel_logout_uri: str | None,
) -> None:
    """Create the client or bring it to exactly these settings."""
    if public and secret_env:
        raise click.UsageError("--public and --secret-env exclude each other")
    secret = None
    if secret_env:
        secret = os.environ.get(secret_env)
        if not secret:
            raise click.UsageError(f"environment variable {secret_env} is empty")
    settings = clients.ClientSettings(
        client_id=client_id,
        name=name or client_id,
        redirect_uris=redirect_uris,
        post_logout_redirect_uris=logout_uris,
        grant_types=grant_types or clients.DEFAULT_GRANTS,
        scopes=scopes or clients.DEFAULT_SCOPES,
        trusted=trusted,
        access_token_ttl=access_token_ttl,
        refresh_token_ttl=refresh_token_ttl,
        refresh_family_ttl=refresh_family_ttl,
        id_token_alg=id_token_alg,
        audiences=audiences or None,
        service_roles=service_roles,
        backchannel_logout_uri=backchannel_logout_uri,
    )
    try:
        saved = clients.save(
            db, settings, confidential=not public, secret=secret, actor=ACTOR, origin=_origin("ensure")
        )
    except clients.InvalidClientSettings as error:
        raise click.UsageError(f"{error.field}: {error}") from None
    click.echo(f"iam: oidc client {client_id} {saved.outcome}")
    if saved.secret is not None:
        click.echo(f"client secret (shown once, store it now): {saved.secret}")


@group.command("rotate-secret")
@click.option("--client-id", required=True)
@click.option(
    "--grace-seconds",
    type=click.IntRange(0, clients.MAX_GRACE_SECONDS),
    default=0,
    show_default=True,
    help="How long the old secret keeps working (time to deploy the new one).",
)
def rotate_secret(client_id: str, grace_seconds: int) -> None:
    """Give the client a new secret, printed once; the old one ends after the grace period."""
    try:
        secret = clients.rotate_secret(
            db, client_id, grace_seconds, actor=ACTOR, origin=_origin("rotate-secret")
        )
    except clients.UnknownClient:
        raise click.UsageError(f"no client {client_id}") from None
    except clients.InvalidClientSettings as error:
        raise click.UsageError(str(error)) from None
    click.echo(f"iam: oidc client {client_id} has a new secret; the old one works for {grace_seconds} s")
    click.echo(f"client secret (shown once, store it now): {secret}")


@group.command("list")
def list_clients() -> None:
    """The registered clients, one a line (never a secret)."""
    for client in clients.list_clients(db):
        kind = "confidential" if client.confidential else "public"
        trust = "trusted" if client.trusted else "consent"
        click.echo(
            f"{client.client_id}\t{client.name}\t{kind}\t{trust}\tgrants={','.join(client.grant_types)}"
            f"\tscopes={' '.join(client.scopes)}\tredirect={' '.join(client.redirect_uris) or '-'}"
        )
