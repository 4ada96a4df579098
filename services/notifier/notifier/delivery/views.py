"""Ops endpoints of the delivery log (operator token; behind the gateway's operator access, never public)."""

from __future__ import annotations

import uuid

from flask import Blueprint, request
from polis.web import api_doc, load

from notifier.delivery import service
from notifier.delivery.schemas import DeliveryListSchema, DeliveryQuerySchema, DeliveryReadSchema
from notifier.extensions import db
from notifier.ops import ops_required

blueprint = Blueprint("deliveries", __name__, url_prefix="/api/notifier/v1/deliveries")


@blueprint.get("")
@api_doc(
    "List deliveries, newest first, by state, kind and account",
    response=DeliveryListSchema,
    errors=(400, 401),
    query=DeliveryQuerySchema,
    tags=("deliveries",),
)
@ops_required
def list_deliveries() -> dict:
    query = load(DeliveryQuerySchema(), request.args.to_dict())
    return DeliveryListSchema().dump({"items": service.list_deliveries(db=db, **query)})


@blueprint.post("/<uuid:delivery_id>/resend")
@api_doc(
    "Send a failed delivery again (queued now; the retry window starts again)",
    response=DeliveryReadSchema,
    errors=(401, 404, 409),
    tags=("deliveries",),
)
@ops_required
def resend(delivery_id: uuid.UUID) -> dict:
    return DeliveryReadSchema().dump(service.resend(db=db, delivery_id=delivery_id))
