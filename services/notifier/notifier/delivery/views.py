"""Ops endpoints of the delivery log (behind the gateway's operator access, never public)."""

from __future__ import annotations

from flask import Blueprint, request
from polis.web import api_doc, load

from notifier.delivery import service
from notifier.delivery.schemas import DeliveryListSchema, DeliveryQuerySchema
from notifier.extensions import db

blueprint = Blueprint("deliveries", __name__, url_prefix="/api/notifier/v1/deliveries")


@blueprint.get("")
@api_doc(
    "List deliveries, newest first, by state and kind",
    response=DeliveryListSchema,
    errors=(400,),
    tags=("deliveries",),
)
def list_deliveries() -> dict:
    query = load(DeliveryQuerySchema(), request.args.to_dict())
    return DeliveryListSchema().dump({"items": service.list_deliveries(db=db, **query)})
