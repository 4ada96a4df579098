"""The enablement JSON API (thin: validate, call the service, answer). Pages come through polis.ui."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request
from polis.auth import current_principal
from polis.errors import NotFound
from polis.web import api_doc, json_body, load

from enablement.accounts import service as accounts
from enablement.audit.service import current_origin
from enablement.extensions import db
from enablement.offices import service as offices
from enablement.permissions import PERMISSIONS
from enablement.personal_codes import service as codes
from enablement.personal_codes.iam import IamQuestions, RpcIamQuestions
from enablement.requests import identification, schemas, service
from enablement.requests.models import CONFIRMED, REJECTED, EnablementRequest

blueprint = Blueprint("enablement_api", __name__, url_prefix="/api/enablement/v1")
POLICY, IAM = "enablement.request_policy", "enablement.iam_questions"


def register_api(app: Flask, *, iam: IamQuestions | None = None) -> None:
    app.extensions[POLICY] = service.RequestPolicy.from_settings(app.config)
    app.extensions[IAM] = iam or RpcIamQuestions(app.config["BROKER_URL"], timeout=app.config["RPC_TIMEOUT"])
    app.register_blueprint(blueprint)


def _policy() -> service.RequestPolicy:
    policy: service.RequestPolicy = current_app.extensions[POLICY]
    return policy


def _me() -> uuid.UUID:
    return uuid.UUID(current_principal().subject)


def _request_body(r: EnablementRequest) -> dict[str, Any]:
    return {
        "id": str(r.id),
        "number": r.number,
        "state": r.state,
        "first_name": r.first_name,
        "last_name": r.last_name,
        "codice_fiscale": r.codice_fiscale,
        "email": r.email,
        "expires_at": service.aware(r.expires_at).isoformat(),
    }


# --- the user's own enablement ------------------------------------------------------------------------


@blueprint.get("/enablement")
@api_doc("The caller's enablement state (D-ENA-1)", tags=("enablement",))
@PERMISSIONS.require("enablement.read_own")
def my_enablement() -> Any:
    with db.transaction() as session:
        body = service.status(session, _me())
        account = accounts.get(session, _me())
        if account is not None:
            body["personal_data"] = {
                "first_name": account.first_name,
                "last_name": account.last_name,
                "email": account.reference_address(),
                "username": account.username,
            }
        return body


@blueprint.post("/requests")
@api_doc(
    "Start the enablement (D-ENA-2)",
    request=schemas.StartRequestSchema,
    status=201,
    errors=(400, 409),
    tags=("enablement",),
)
@PERMISSIONS.require("enablement.request")
def start_request() -> Any:
    data = load(schemas.StartRequestSchema(), json_body())
    created = service.start(
        db=db,
        policy=_policy(),
        account_id=_me(),
        codice_fiscale=data["codice_fiscale"],
        origin=current_origin(),
    )
    return _request_body(created), 201


@blueprint.get("/requests/current/form.pdf")
@api_doc("The adhesion form of the caller's pending request (D-ENA-2)", errors=(404,), tags=("enablement",))
@PERMISSIONS.require("enablement.read_own")
def adhesion_form() -> Response:
    with db.transaction() as session:
        current = service.current_request(session, _me())
        if current is None or current.state != "pending":
            raise NotFound("You have no pending enablement request.")
        account = accounts.get(session, _me())
        pdf = service.form_pdf(session, current, account.username if account else None)
        filename = f"modulo-adesione-{current.number}.pdf"
    return Response(
        pdf, mimetype="application/pdf", headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


@blueprint.post("/receipt")
@api_doc(
    "Confirm receipt of the email with the signed single-use link (D-ENA-2)",
    request=schemas.ReceiptSchema,
    description=(
        "400 (invalid_link) also answers a link of the documented form that is altered, used or expired."
    ),
    errors=(400,),
    tags=("enablement",),
)
def confirm_receipt() -> Any:
    data = load(schemas.ReceiptSchema(), json_body())
    confirmed = service.confirm_receipt(db=db, policy=_policy(), token=data["token"])
    return {"status": "confirmed", "number": confirmed.number}


# --- personal code: Funzioni di servizio (D-ENA-4..7) ------------------------------------------------


@blueprint.post("/personal-code/change")
@api_doc(
    "Change the personal code (D-ENA-4 first change, D-ENA-6)",
    request=schemas.ChangeCodeSchema,
    description=(
        "400 (validation_failed, field named) also answers a code the personal-code policy "
        "refuses (common, like the old one)."
    ),
    errors=(400, 409, 429, 503),
    tags=("personal code",),
)
@PERMISSIONS.require("enablement.request")
def change_code() -> Any:
    data = load(schemas.ChangeCodeSchema(), json_body())
    codes.change(
        db=db,
        policy=_policy().codes,
        iam=current_app.extensions[IAM],
        account_id=_me(),
        current_code=data["current_code"],
        new_code=data["new_code"],
        origin=current_origin(),
    )
    return {"status": "changed"}


@blueprint.post("/personal-code/recover")
@api_doc(
    "Recover the personal code with the security answer (D-ENA-5)",
    request=schemas.RecoverCodeSchema,
    description=(
        "400 (recovery_refused) also answers a codice fiscale or security answer that is not the caller's."
    ),
    errors=(400, 409, 429, 503),
    tags=("personal code",),
)
@PERMISSIONS.require("enablement.request")
def recover_code() -> Any:
    data = load(schemas.RecoverCodeSchema(), json_body())
    with db.transaction() as session:
        current = service.current_request(session, _me())
        confirmed_cf = current.codice_fiscale if current is not None and current.state == CONFIRMED else None
    codes.recover(
        db=db,
        policy=_policy().codes,
        iam=current_app.extensions[IAM],
        account_id=_me(),
        codice_fiscale=data["codice_fiscale"],
        answer=data["security_answer"],
        confirmed_codice_fiscale=confirmed_cf,
        origin=current_origin(),
    )
    return {"status": "sent", "message": "A new personal code was sent to your reference email address."}


@blueprint.post("/personal-code/regenerate")
@api_doc(
    "Regenerate the personal code: a new identification in an office is needed (D-ENA-7)",
    request=schemas.RegenerateSchema,
    status=201,
    errors=(400, 409),
    tags=("personal code",),
)
@PERMISSIONS.require("enablement.request")
def regenerate_code() -> Any:
    load(schemas.RegenerateSchema(), json_body())
    created = service.regenerate(db=db, policy=_policy(), account_id=_me(), origin=current_origin())
    return _request_body(created), 201


# --- operators (D-ENA-3, D-ENA-10) --------------------------------------------------------------------


@blueprint.get("/operator/offices")
@api_doc("The offices the calling operator acts for", tags=("operator",))
@PERMISSIONS.require("enablement.identify")
def operator_offices() -> Any:
    with db.transaction() as session:
        found = offices.offices_of(session, _me())
        return {"offices": [{"id": str(o.id), "code": o.code, "name": o.name} for o in found]}


@blueprint.get("/operator/requests")
@api_doc(
    "Find a pending request by number or codice fiscale (D-ENA-3)",
    errors=(400, 403, 404),
    query=schemas.FindSchema,
    tags=("operator",),
)
@PERMISSIONS.require("enablement.identify")
def find_request() -> Any:
    data = load(schemas.FindSchema(), request.args.to_dict())
    found = identification.find_pending(
        db=db, operator_id=_me(), number=data.get("number"), codice_fiscale=data.get("codice_fiscale")
    )
    return _request_body(found)


@blueprint.post("/operator/requests/<uuid:request_id>/confirm")
@api_doc(
    "Confirm the enablement after identification with a valid document (D-ENA-3)",
    request=schemas.ConfirmSchema,
    errors=(400, 403, 404),
    tags=("operator",),
)
@PERMISSIONS.require("enablement.identify")
def confirm_request(request_id: uuid.UUID) -> Any:
    data = load(schemas.ConfirmSchema(), json_body())
    document = identification.Document(
        type=data["document_type"],
        number=data["document_number"].upper(),
        issuer=data["document_issuer"],
        issued_on=data["document_issued_on"],
        expires_on=data["document_expires_on"],
    )
    done = identification.identify(
        db=db,
        operator_id=_me(),
        request_id=request_id,
        office_id=data["office_id"],
        outcome=CONFIRMED,
        document=document,
        form_signed=data["form_signed"],
        origin=current_origin(),
    )
    return {"status": done.outcome}


@blueprint.post("/operator/requests/<uuid:request_id>/reject")
@api_doc(
    "Reject the request with a reason (D-ENA-3)",
    request=schemas.RejectSchema,
    errors=(400, 403, 404),
    tags=("operator",),
)
@PERMISSIONS.require("enablement.identify")
def reject_request(request_id: uuid.UUID) -> Any:
    data = load(schemas.RejectSchema(), json_body())
    done = identification.identify(
        db=db,
        operator_id=_me(),
        request_id=request_id,
        office_id=data["office_id"],
        outcome=REJECTED,
        reason=data["reason"],
        origin=current_origin(),
    )
    return {"status": done.outcome}


# --- ops (D-ENA-10) -----------------------------------------------------------------------------------


@blueprint.post("/ops/offices")
@api_doc("Create or update an office", request=schemas.OfficeSchema, status=201, errors=(400,), tags=("ops",))
@PERMISSIONS.require("enablement.ops")
def save_office() -> Any:
    data = load(schemas.OfficeSchema(), json_body())
    office = offices.create_office(db=db, actor=current_principal().subject, origin=current_origin(), **data)
    return {"id": str(office.id), "code": office.code}, 201


@blueprint.post("/ops/operators")
@api_doc(
    "Assign an operator to an office",
    request=schemas.AssignmentSchema,
    status=201,
    errors=(400, 404),
    tags=("ops",),
)
@PERMISSIONS.require("enablement.ops")
def assign_operator() -> Any:
    data = load(schemas.AssignmentSchema(), json_body())
    offices.assign_operator(db=db, actor=current_principal().subject, origin=current_origin(), **data)
    return {"status": "assigned"}, 201


@blueprint.delete("/ops/operators/<uuid:operator_id>/offices/<office_code>")
@api_doc("End an operator's assignment to an office (audited)", status=204, errors=(404,), tags=("ops",))
@PERMISSIONS.require("enablement.ops")
def unassign_operator(operator_id: uuid.UUID, office_code: str) -> Any:
    offices.unassign_operator(
        db=db,
        operator_id=operator_id,
        office_code=office_code,
        actor=current_principal().subject,
        origin=current_origin(),
    )
    return "", 204


@blueprint.get("/ops/identifications")
@api_doc("Every confirmation and rejection, newest first (D-ENA-3 audit)", tags=("ops",))
@PERMISSIONS.require("enablement.ops")
def list_identifications() -> Any:
    return {"identifications": identification.identifications(db=db)}
