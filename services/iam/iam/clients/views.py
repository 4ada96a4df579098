"""The ops API of the client registry, /api/iam/v1/ops/oidc-clients (issue 5, item 1).

GET lists, GET /<id> shows, PUT /<id> creates or updates (idempotent: the body is the whole client; a new
confidential client gets a generated secret, returned in that one answer), POST /<id>/secret rotates the
secret (the old one keeps working for `grace_seconds`). No answer ever carries a secret hash. Every change is
audited (oidc_client.created / .updated / .secret_rotated) with the ops actor.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint
from marshmallow import fields, validate
from polis.errors import Conflict, NotFound, ValidationFailed
from polis.web import ApiSchema, JsonInteger, UtcDateTime, api_doc, json_body, load

from iam.audit.origin import current_origin
from iam.clients import service as clients
from iam.extensions import db
from iam.ops import ops_actor, ops_required

blueprint = Blueprint("oidc_clients_ops", __name__, url_prefix="/api/iam/v1/ops/oidc-clients")


# --- schemas ------------------------------------------------------------------------------------------


def _strings(max_items: int, max_length: int = clients.MAX_URI_LENGTH) -> fields.List:
    return fields.List(
        fields.String(validate=validate.Length(min=1, max=max_length)),
        validate=validate.Length(max=max_items),
    )


class ClientWriteSchema(ApiSchema):
    """A whole client (PUT): omitted fields take their defaults, as on a new client."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=120))
    trusted = fields.Boolean(required=True, metadata={"description": "first party: no consent page"})
    confidential = fields.Boolean(
        load_default=True, metadata={"description": "has a secret (false: a public client, PKCE only)"}
    )
    redirect_uris = _strings(clients.MAX_URIS)
    post_logout_redirect_uris = _strings(clients.MAX_URIS)
    grant_types = fields.List(
        fields.String(validate=validate.OneOf(clients.SUPPORTED_GRANTS)),
        load_default=list(clients.DEFAULT_GRANTS),
    )
    scopes = fields.List(
        fields.String(validate=validate.OneOf(clients.SUPPORTED_SCOPES)),
        load_default=list(clients.DEFAULT_SCOPES),
    )
    audiences = fields.List(
        fields.String(validate=validate.Length(min=1, max=200)),
        load_default=None,
        metadata={"description": "default: urn:polis:<api> of each API scope"},
    )
    service_roles = _strings(clients.MAX_SERVICE_ROLES, 32)
    access_token_ttl = JsonInteger(load_default=clients.DEFAULT_ACCESS_TOKEN_TTL)
    refresh_token_ttl = JsonInteger(load_default=clients.DEFAULT_REFRESH_TOKEN_TTL)
    refresh_family_ttl = JsonInteger(load_default=clients.DEFAULT_REFRESH_FAMILY_TTL)
    id_token_alg = fields.String(
        load_default=clients.DEFAULT_ID_TOKEN_ALG, validate=validate.OneOf(clients.ID_TOKEN_ALGORITHMS)
    )
    backchannel_logout_uri = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(min=1, max=clients.MAX_URI_LENGTH)
    )


class ClientReadSchema(ApiSchema):
    client_id = fields.String(required=True)
    name = fields.String(required=True)
    confidential = fields.Boolean(required=True)
    trusted = fields.Boolean(required=True)
    redirect_uris = fields.List(fields.String(), required=True)
    post_logout_redirect_uris = fields.List(fields.String(), required=True)
    grant_types = fields.List(fields.String(), required=True)
    scopes = fields.List(fields.String(), required=True)
    audiences = fields.List(fields.String(), required=True)
    service_roles = fields.List(fields.String(), required=True)
    access_token_ttl = fields.Integer(required=True)
    refresh_token_ttl = fields.Integer(required=True)
    refresh_family_ttl = fields.Integer(required=True)
    id_token_alg = fields.String(required=True)
    backchannel_logout_uri = fields.String(allow_none=True)
    secret_rotated_at = UtcDateTime(allow_none=True)
    previous_secret_expires_at = UtcDateTime(allow_none=True)
    created_at = UtcDateTime(allow_none=True)
    updated_at = UtcDateTime(allow_none=True)


class ClientListSchema(ApiSchema):
    clients = fields.List(fields.Nested(ClientReadSchema), required=True)


class ClientSavedSchema(ApiSchema):
    outcome = fields.String(required=True, metadata={"description": "created, updated or unchanged"})
    client = fields.Nested(ClientReadSchema, required=True)
    client_secret = fields.String(metadata={"description": "only when IAM generated it now: shown once"})


class RotateSecretSchema(ApiSchema):
    grace_seconds = JsonInteger(load_default=0, validate=validate.Range(min=0, max=clients.MAX_GRACE_SECONDS))


class SecretRotatedSchema(ApiSchema):
    client_id = fields.String(required=True)
    client_secret = fields.String(required=True, metadata={"description": "the new secret: shown once"})
    previous_secret_expires_at = UtcDateTime(required=True)


def _read(client: clients.Client) -> dict[str, Any]:
    body: dict[str, Any] = ClientReadSchema().dump(client)  # only the declared fields: no hash
    return body


# --- views --------------------------------------------------------------------------------------------


@blueprint.get("")
@api_doc(
    "List the OpenID Connect clients (never a secret)",
    response=ClientListSchema,
    errors=(401,),
    tags=("ops",),
)
@ops_required
def list_clients() -> dict[str, Any]:
    return {"clients": [_read(client) for client in clients.list_clients(db)]}


@blueprint.get("/<client_id>")
@api_doc(
    "Show an OpenID Connect client (never a secret)",
    response=ClientReadSchema,
    errors=(401, 404),
    tags=("ops",),
)
@ops_required
def show_client(client_id: str) -> dict[str, Any]:
    client = clients.get(db, client_id) if len(client_id) <= 64 else None
    if client is None:
        raise NotFound()
    return _read(client)


@blueprint.put("/<client_id>")
@api_doc(
    "Create or update a client (idempotent); a new confidential client's secret is returned once",
    request=ClientWriteSchema,
    description=(
        "400 also answers URIs the registry refuses (not https outside localhost, a fragment) and "
        "settings out of their bounds."
    ),
    response=ClientSavedSchema,
    errors=(400, 401, 415),
    tags=("ops",),
)
@ops_required
def put_client(client_id: str) -> tuple[dict[str, Any], int]:
    data = load(ClientWriteSchema(), json_body())
    confidential = data.pop("confidential")
    settings = clients.ClientSettings(client_id=client_id, **data)
    try:
        saved = clients.save(
            db, settings, confidential=confidential, actor=ops_actor(), origin=current_origin()
        )
    except clients.InvalidClientSettings as error:
        raise ValidationFailed(str(error), fields={error.field: [str(error)]}) from None
    body: dict[str, Any] = {"outcome": saved.outcome, "client": _read(saved.client)}
    if saved.secret is not None:
        body["client_secret"] = saved.secret
    return body, 201 if saved.outcome == "created" else 200


@blueprint.post("/<client_id>/secret")
@api_doc(
    "Rotate a client's secret: the new one is returned once; the old one works for grace_seconds (default 0)",
    request=RotateSecretSchema,
    response=SecretRotatedSchema,
    errors=(400, 401, 404, 409, 415),
    tags=("ops",),
)
@ops_required
def rotate_secret(client_id: str) -> dict[str, Any]:
    data = load(RotateSecretSchema(), json_body())
    now = datetime.now(UTC)
    try:
        secret = clients.rotate_secret(
            db, client_id, data["grace_seconds"], actor=ops_actor(), origin=current_origin(), now=now
        )
    except clients.UnknownClient:
        raise NotFound() from None
    except clients.PublicClient as error:
        raise Conflict(str(error), code="public_client") from None
    body: dict[str, Any] = SecretRotatedSchema().dump(
        {
            "client_id": client_id,
            "client_secret": secret,
            "previous_secret_expires_at": now + timedelta(seconds=data["grace_seconds"]),
        }
    )
    return body
