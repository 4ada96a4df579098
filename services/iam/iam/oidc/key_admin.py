"""Operating the token signing keys (issue 5, item 3): the ops API under /api/iam/v1/ops/oidc-keys, the
`flask --app iam oidc-keys` commands, and the worker loop that rotates on schedule.

Every rotation is audited (`oidc_key.rotated`): actor ops:token from the API, ops:cli from the command,
ops:schedule from the worker's schedule. Nothing here ever shows a private part of a key.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import click
from flask import Blueprint, Flask, request
from flask.cli import AppGroup
from marshmallow import fields, validate
from polis.db import Database
from polis.web import ApiSchema, UtcDateTime, api_doc, json_body, load
from polis.worker import Loop
from sqlalchemy.exc import SQLAlchemyError

from iam.audit.origin import current_origin
from iam.extensions import db
from iam.oidc import keys
from iam.ops import ops_actor, ops_required

log = logging.getLogger("iam.oidc.key_admin")

blueprint = Blueprint("oidc_keys", __name__, url_prefix="/api/iam/v1/ops/oidc-keys")
group = AppGroup("oidc-keys", help="Token signing keys of IAM's OpenID Connect provider.")


def register_key_admin(app: Flask) -> None:
    """Configure the keys from the app's settings (a malformed KEK stops the start), add the ops API and
    the commands."""
    keys.configure(keys.KeySettings.from_config(app.config))
    app.register_blueprint(blueprint)
    app.cli.add_command(group)


# --- ops API -------------------------------------------------------------------------------------------


class KeyReadSchema(ApiSchema):
    kid = fields.String(required=True)
    alg = fields.String(required=True)
    status = fields.String(
        required=True, metadata={"description": "signing, published (not signing yet), retired, expired"}
    )
    created_at = UtcDateTime(required=True, metadata={"description": "published in the JWKS from"})
    signs_from = UtcDateTime(required=True)
    retired_at = UtcDateTime(allow_none=True, metadata={"description": "stops signing at"})
    published_until = UtcDateTime(allow_none=True, metadata={"description": "leaves the JWKS at"})


class KeyListSchema(ApiSchema):
    keys = fields.List(fields.Nested(KeyReadSchema), required=True)


class RotateRequestSchema(ApiSchema):
    alg = fields.String(load_default=None, validate=validate.OneOf(keys.ALGORITHMS))


class RotationSchema(ApiSchema):
    alg = fields.String(required=True)
    kid = fields.String(required=True, metadata={"description": "the successor"})
    signs_from = UtcDateTime(required=True)
    created = fields.Boolean(
        required=True, metadata={"description": "false: a successor was already pending"}
    )
    previous = fields.List(fields.String(), required=True)


class RotateResponseSchema(ApiSchema):
    rotations = fields.List(fields.Nested(RotationSchema), required=True)


def _key_body(record: keys.KeyRecord, now: datetime) -> dict[str, Any]:
    return {
        "kid": record.kid,
        "alg": record.alg,
        "status": record.status(now),
        "created_at": record.created_at,
        "signs_from": record.signs_from,
        "retired_at": record.retired_at,
        "published_until": record.published_until,
    }


@blueprint.get("")
@api_doc(
    "Token signing keys, newest first: when each is published, signs, retires, leaves the JWKS",
    response=KeyListSchema,
    errors=(401,),
    tags=("ops",),
)
@ops_required
def list_keys() -> dict[str, Any]:
    now = datetime.now(UTC)
    body: dict[str, Any] = KeyListSchema().dump(
        {"keys": [_key_body(record, now) for record in keys.list_keys(db)]}
    )
    return body


@blueprint.post("/rotate")
@api_doc(
    'Rotate the signing keys (every alg, or {"alg"}): the successor is published now and signs after '
    "the publish lead (audited)",
    request=RotateRequestSchema,
    response=RotateResponseSchema,
    errors=(400, 401, 415),
    tags=("ops",),
)
@ops_required
def rotate() -> dict[str, Any]:
    data = load(RotateRequestSchema(), json_body()) if request.get_data(cache=True) else {"alg": None}
    rotations = keys.rotate(db, data["alg"], actor=ops_actor(), origin=current_origin())
    body: dict[str, Any] = RotateResponseSchema().dump(
        {"rotations": [_rotation_body(rotation) for rotation in rotations]}
    )
    return body


def _rotation_body(rotation: keys.Rotation) -> dict[str, Any]:
    return {
        "alg": rotation.alg,
        "kid": rotation.kid,
        "signs_from": rotation.signs_from,
        "created": rotation.created,
        "previous": list(rotation.previous),
    }


# --- commands ------------------------------------------------------------------------------------------


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


# --- the worker's schedule -----------------------------------------------------------------------------

CHECK_SECONDS = 300.0  # rotation is due at most once a month: a look every few minutes is plenty
RETRY_SECONDS = 30.0


def rotation_loop(
    settings: Mapping[str, Any], database: Database, *, interval: float = CHECK_SECONDS
) -> Loop:
    """The worker loop of scheduled rotations (`keys.rotate_if_due`). At start it opens every published
    key, so a wrong IAM_KEY_ENCRYPTION_KEY stops the worker with a clear log line instead of surfacing at
    the next login; a database that does not answer is only retried."""
    key_settings = keys.KeySettings.from_config(settings)  # a malformed KEK stops the worker here
    # Now, before any loop starts: the back-channel logout loop signs with these keys too.
    keys.configure(key_settings)

    def run(stop: threading.Event) -> None:
        checked = False
        while True:
            delay = interval
            try:
                if not checked:
                    keys.check_unsealable(database, settings=key_settings)
                    checked = True
                keys.rotate_if_due(database, settings=key_settings)
                keys.delete_expired(database)
            except keys.KeyUnavailable:
                log.error("oidc signing keys do not open with IAM_KEY_ENCRYPTION_KEY: stopping the worker")
                raise
            except SQLAlchemyError as error:
                log.warning("oidc key rotation check failed; retrying", extra={"error": type(error).__name__})
                delay = min(interval, RETRY_SECONDS)
            if stop.wait(delay):
                return

    return Loop("oidc-key-rotation", run)
