"""HTTP endpoints of email confirmation: load, call the service, dump."""

from __future__ import annotations

from flask import Blueprint, Flask, current_app
from polis.web import api_doc, json_body, load

from iam.confirmations import service
from iam.confirmations.schemas import (
    ConfirmationReadSchema,
    ConfirmationRequestSchema,
    ConfirmedSchema,
    ConfirmSchema,
)
from iam.extensions import db

blueprint = Blueprint("confirmations", __name__, url_prefix="/api/iam/v1/email-confirmations")
POLICY = "iam.confirmation_policy"
TAGS = ("email confirmations",)


def register_confirmations(app: Flask) -> None:
    app.extensions[POLICY] = service.ConfirmationPolicy.from_settings(app.config)
    app.register_blueprint(blueprint)


@blueprint.post("")
@api_doc(
    "Send a confirmation link to an email address",
    request=ConfirmationRequestSchema,
    response=ConfirmationReadSchema,
    status=202,
    errors=(400, 413, 415),
    tags=TAGS,
)
def request_confirmation() -> tuple[dict, int]:
    data = load(ConfirmationRequestSchema(), json_body())
    confirmation = service.request_confirmation(db=db, policy=current_app.extensions[POLICY], **data)
    return ConfirmationReadSchema().dump(confirmation), 202


@blueprint.post("/confirm")
@api_doc(
    "Confirm an email address with the token from the link",
    request=ConfirmSchema,
    response=ConfirmedSchema,
    errors=(400, 413, 415),
    tags=TAGS,
)
def confirm() -> dict:
    data = load(ConfirmSchema(), json_body())
    return ConfirmedSchema().dump(service.confirm(db=db, **data))
