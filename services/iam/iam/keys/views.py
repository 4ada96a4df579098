"""The ops API of the token signing keys, /api/iam/v1/ops/oidc-keys (issue 5, item 3): list and rotate.

Every rotation is audited (`oidc_key.rotated`, actor ops:token); nothing here ever shows a private part of
a key.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, request
from marshmallow import fields, validate
from polis.web import ApiSchema, UtcDateTime, api_doc, json_body, load

from iam.audit.origin import current_origin
from iam.extensions import db
from iam.keys import service as keys
from iam.ops import ops_actor, ops_required

blueprint = Blueprint("oidc_keys", __name__, url_prefix="/api/iam/v1/ops/oidc-keys")


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
