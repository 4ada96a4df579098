"""`flask --app iam oidc-keys ...`: list, rotate and reseal the token signing keys (actor ops:cli)."""

from __future__ import annotations

from datetime import UTC, datetime

import click
from flask.cli import AppGroup

from iam.extensions import db
from iam.keys import service as keys

group = AppGroup("oidc-keys", help="Token signing keys of IAM's OpenID Connect provider.")


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else "-"


@group.command("list")
def list_command() -> None:
    """Every key: status, when it is published, signs, retires and leaves the JWKS; which KEK sealed it."""
    now = datetime.now(UTC)
    for record in keys.list_keys(db):
        click.echo(
            f"{record.kid}  {record.alg}  {record.status(now):9}  created {_when(record.created_at)}  "
            f"signs {_when(record.signs_from)}  retired {_when(record.retired_at)}  "
            f"published-until {_when(record.published_until)}  sealed {record.sealing}"
        )


@group.command("rotate")
@click.option(
    "--alg", type=click.Choice(keys.ALGORITHMS), default=None, help="Only this chain (default: all)."
)
def rotate_command(alg: str | None) -> None:
    """Publish the next key now; it signs after IAM_OIDC_KEY_PUBLISH_LEAD_SECONDS (audited, actor ops:cli)."""
    for rotation in keys.rotate(db, alg, actor="ops:cli"):
        outcome = "rotated" if rotation.created else "already pending"
        click.echo(
            f"iam: oidc key {rotation.alg} {outcome}: {rotation.kid} signs from {_when(rotation.signs_from)}"
        )


@group.command("reseal")
def reseal_command() -> None:
    """Seal every key with the first key of IAM_KEY_ENCRYPTION_KEY (rotating the KEK: see the README)."""
    try:
        resealed, unchanged = keys.reseal(db)
    except keys.KeyUnavailable:
        raise click.ClickException(
            "a key does not open with any key of IAM_KEY_ENCRYPTION_KEY (the log names it); nothing changed"
        ) from None
    fingerprint = keys.kek_fingerprint(keys.current_settings().keks[0])
    click.echo(f"iam: oidc keys sealed with {fingerprint}: {resealed} resealed, {unchanged} already were")
