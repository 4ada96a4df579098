"""The user's JSON API (D-IST-2/6): declare the staff category, see the procedures open to it, save a
draft's section, read the draft. The caller is the subject of IAM's access token (polis.auth)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from marshmallow import fields, validate
from polis.auth import current_principal
from polis.errors import Conflict, Forbidden, NotFound, ValidationFailed
from polis.web import ApiSchema, api_doc, json_body, load

from istanze.applications import service
from istanze.applications.enablement import RpcCodeChecker
from istanze.applications.submission import CodeChecker, CodeRefused, submit
from istanze.applications.withdrawal import withdraw, withdrawals_of
from istanze.contacts import service as contacts
from istanze.extensions import db
from istanze.permissions import PERMISSIONS
from istanze.procedures import service as procedures
from istanze.procedures.service import STAFF_CATEGORIES
from istanze.receipts import service as receipts

blueprint = Blueprint("istanze_applications", __name__, url_prefix="/api/istanze/v1")


class CategorySchema(ApiSchema):
    staff_category = fields.String(required=True, validate=validate.OneOf(STAFF_CATEGORIES))


class SubmissionSchema(ApiSchema):
    personal_code = fields.String(required=True, validate=validate.Length(min=1, max=64))
    # One per click of "Inoltra" (the page makes it): the same key again answers the same submission.
    key = fields.String(required=True, validate=validate.Length(min=8, max=64))


CHECKER = "istanze.code_checker"


def register_applications(app: Flask, *, check_code: CodeChecker | None = None) -> None:
    app.extensions[CHECKER] = check_code or RpcCodeChecker(
        app.config["BROKER_URL"], timeout=app.config["RPC_TIMEOUT"]
    )
    app.register_blueprint(blueprint)


def _me() -> uuid.UUID:
    return uuid.UUID(current_principal().subject)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)  # SQLite reads back naive


def _language() -> str:
    return "en" if (request.accept_languages.best_match(["it", "en"]) == "en") else "it"


def _refused(exc: service.NotAllowed) -> Forbidden:
    """403 with the reason as code and a readable message in the caller's language (the window in Italian
    time when it is closed: opens_at/closes_at in `fields`)."""
    extra = None
    if exc.opens_at is not None and exc.closes_at is not None:
        extra = {"opens_at": exc.opens_at.isoformat(), "closes_at": exc.closes_at.isoformat()}
    return Forbidden(code=exc.reason, message=exc.message(_language()), fields=extra)


def applicant_name() -> str | None:
    """The user's name for the receipt, as IAM's token says it (None when it does not)."""
    claims = current_principal().claims
    name = claims.get("name") or " ".join(
        str(claims[c]) for c in ("given_name", "family_name") if isinstance(claims.get(c), str)
    )
    return str(name)[:200] if name else None


def application_json(session: Any, draft: Any) -> dict[str, Any]:
    """The application as the API shows it: state, answers, the submission in force, withdrawn ones."""
    body: dict[str, Any] = {
        "id": str(draft.id),
        "procedure_code": draft.procedure_code,
        "state": draft.state,
        "answers": draft.answers,
        "updated_at": _aware(draft.updated_at).isoformat(),
        "submission": None,
    }
    if draft.state in ("inoltrata", "protocollata") and draft.protocol_number is not None:
        receipt = receipts.current_receipt(session, application_id=draft.id)
        body["submission"] = {
            "protocol_number": f"{draft.protocol_number:07d}",
            "protocol_year": draft.protocol_year,
            "segnatura": draft.segnatura,
            "submitted_at": _aware(draft.submitted_at).isoformat() if draft.submitted_at else None,
            "receipt_id": str(receipt.id) if receipt else None,
            # "in_preparazione" while the receipt is rendered and filed (state "protocollata"), then
            # "inoltrata": the receipt is in the archive and on its way by email.
            "receipt_state": receipts.receipt_json(receipt)["state"] if receipt else None,
        }
    body["withdrawn"] = [
        {
            "protocol_number": f"{w.protocol_number:07d}",
            "protocol_year": w.protocol_year,
            "segnatura": w.segnatura,
            "submitted_at": _aware(w.submitted_at).isoformat(),
            "withdrawn_at": _aware(w.withdrawn_at).isoformat(),
        }
        for w in withdrawals_of(session, application_id=draft.id)
    ]
    return body


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    """A response body's JSON Schema: these properties, all present (issue 17: documents state answers)."""
    return {"type": "object", "required": sorted(properties), "properties": properties}


OPEN_PROCEDURE: dict[str, Any] = _object(
    {
        "code": {"type": "string"},
        "title_it": {"type": "string"},
        "title_en": {"type": "string"},
        "opens_at": {"type": "string", "format": "date-time"},
        "closes_at": {"type": "string", "format": "date-time"},
        "state": {"type": "string"},
        "seconds_left": {"type": ["number", "null"]},
    }
)
CONTACTS_ANSWER: dict[str, Any] = _object({"contacts": {"type": ["object", "null"]}})
CONTACT_CHANGE: dict[str, Any] = _object(
    {
        "changed_at": {"type": "string", "format": "date-time"},
        "before": {"type": ["object", "null"]},
        "after": {"type": "object"},
    }
)


@blueprint.put("/profile")
@api_doc(
    "Declare the caller's staff category (D-IST-6)",
    request=CategorySchema,
    response=_object({"staff_category": {"type": "string"}}),
    errors=(400,),
)
@PERMISSIONS.require("istanze.read_own")
def declare() -> Any:
    data = load(CategorySchema(), json_body())
    with db.transaction() as session:
        service.declare_category(session, account_id=_me(), staff_category=data["staff_category"])
    return jsonify(staff_category=data["staff_category"])


@blueprint.get("/procedures/open")
@api_doc(
    "Published procedures of the caller's staff category, with their windows (D-IST-1/6)",
    response=_object(
        {
            "staff_category": {"type": ["string", "null"]},
            "procedures": {"type": "array", "items": OPEN_PROCEDURE},
        }
    ),
)
@PERMISSIONS.require("istanze.read_own")
def visible() -> Any:
    now = datetime.now(UTC)
    with db.transaction() as session:
        category = service.category_of(session, account_id=_me())
        rows = procedures.visible_to(session, staff_category=category)
        return jsonify(
            staff_category=category,
            procedures=[
                {
                    "code": p.code,
                    "title_it": p.title_it,
                    "title_en": p.title_en,
                    "opens_at": p.window.opens_at().isoformat(),
                    "closes_at": p.window.closes_at().isoformat(),
                    "state": p.window.state(now),
                    "seconds_left": p.window.seconds_left(now),
                }
                for p in rows
            ],
        )


# The documents' request bodies (issue 17): a section's answers depend on the procedure's form; the contact
# details are strings checked against the phone-number and ISTAT lists, which no schema states.
ANSWERS_BODY: dict[str, Any] = {"type": "object", "description": "The section's answers by field name"}
CONTACTS_BODY: dict[str, Any] = {
    "type": "object",
    "properties": {
        name: {
            "type": ["string", "null"],
            **({"maxLength": contacts.LIMITS[name]} if name in contacts.LIMITS else {}),
        }
        for name in contacts.FIELDS
    },
    "additionalProperties": False,
}


@blueprint.put("/applications/<code>/sections/<section>")
@api_doc(
    "Save one section of the caller's draft (D-IST-2)",
    request=ANSWERS_BODY,
    errors=(400, 403, 404),
    description="400 also answers an object whose answers the procedure's form refuses (fields named).",
)
@PERMISSIONS.require("istanze.submit")
def save_section(code: str, section: str) -> Any:
    answers = json_body()
    if not isinstance(answers, dict):
        raise ValidationFailed("The body must be an object of answers.")
    try:
        with db.transaction() as session:
            draft = service.save_section(
                session, account_id=_me(), code=code, section=section, answers=answers
            )
            body = {"id": str(draft.id), "state": draft.state, "answers": draft.answers}
    except procedures.UnknownProcedure:
        raise NotFound("No such procedure.") from None
    except KeyError:
        raise NotFound("No such section in this procedure's form.") from None
    except service.NotAllowed as exc:
        raise _refused(exc) from None
    except service.SectionInvalid as exc:
        language = _language()
        raise ValidationFailed(
            "Some answers are not valid.", fields={n: e.message(language) for n, e in exc.errors.items()}
        ) from None
    return jsonify(body)


@blueprint.post("/applications/<code>/submission")
@api_doc(
    "Submit the caller's draft with the personal code (D-IST-2/3)",
    request=SubmissionSchema,
    errors=(400, 403, 404, 503),
)
@PERMISSIONS.require("istanze.submit")
def submission(code: str) -> Any:
    arrived_at = datetime.now(UTC)  # D-IST-6: the deadline is the server's clock when the request arrives
    data = load(SubmissionSchema(), json_body())
    config = current_app.config
    try:
        submitted = submit(
            db,
            account_id=_me(),
            code=code,
            personal_code=data["personal_code"],
            key=data["key"],
            check_code=current_app.extensions[CHECKER],
            arrived_at=arrived_at,
            administration=config["PROTOCOL_ADMINISTRATION_CODE"],
            aoo=config["PROTOCOL_AOO_CODE"],
            register=config["PROTOCOL_REGISTER"],
            applicant=applicant_name(),
        )
        application, receipt = submitted.application, submitted.receipt
        if receipt is None:  # a repeated click, a pending receipt: as the archive has it
            with db.transaction() as session:
                receipt = receipts.current_receipt(session, application_id=application.id)
        body = {
            "id": str(application.id),
            # "protocollata" while the receipt is being prepared (a repeated click, a failed render):
            # registered with its number; the receipt reaches the archive and the mailbox shortly.
            "state": application.state,
            "protocol_number": f"{application.protocol_number:07d}",
            "protocol_year": application.protocol_year,
            "segnatura": application.segnatura,
            "submitted_at": _aware(application.submitted_at or arrived_at).isoformat(),
            "receipt": receipts.receipt_json(receipt) if receipt else None,
        }
    except procedures.UnknownProcedure:
        raise NotFound("No such procedure.") from None
    except service.NotAllowed as exc:
        raise _refused(exc) from None
    except service.SectionInvalid as exc:
        language = _language()
        raise ValidationFailed(
            "The application is not complete.", fields={n: e.message(language) for n, e in exc.errors.items()}
        ) from None
    except CodeRefused as exc:
        fields_ = {
            "personal_code": "Codice personale non valido." if _language() == "it" else "Wrong personal code."
        }
        raise Forbidden(
            code=f"personal_code_{exc.status}",
            message="The personal code was not accepted.",
            fields=fields_ if exc.status == "wrong" else None,
        ) from None
    return jsonify(body)


@blueprint.delete("/applications/<code>/submission")
@api_doc(
    "Withdraw the caller's submission before the deadline ('annulla inoltro', D-IST-3)", errors=(403, 404)
)
@PERMISSIONS.require("istanze.submit")
def withdrawal(code: str) -> Any:
    arrived_at = datetime.now(UTC)  # D-IST-6: the deadline is the server's clock when the request arrives
    try:
        with db.transaction() as session:
            record = withdraw(session, account_id=_me(), code=code, arrived_at=arrived_at)
            body = {
                "state": "bozza",
                "withdrawn": {
                    "protocol_number": f"{record.protocol_number:07d}",
                    "segnatura": record.segnatura,
                    "withdrawn_at": _aware(record.withdrawn_at).isoformat(),
                },
            }
    except procedures.UnknownProcedure:
        raise NotFound("No such procedure.") from None
    except service.NotAllowed as exc:
        raise _refused(exc) from None
    return jsonify(body)


@blueprint.get("/applications/<code>")
@api_doc("The caller's application of a procedure (D-IST-2)", errors=(404,))
@PERMISSIONS.require("istanze.read_own")
def read(code: str) -> Any:
    with db.transaction() as session:
        draft = service.application_of(session, account_id=_me(), code=code)
        if draft is None:
            raise NotFound("No application for this procedure.")
        return jsonify(application_json(session, draft))


@blueprint.get("/applications")
@api_doc(
    "The caller's applications with their states (D-IST-2/3)",
    response=_object({"applications": {"type": "array", "items": {"type": "object"}}}),
)
@PERMISSIONS.require("istanze.read_own")
def mine() -> Any:
    with db.transaction() as session:
        rows = service.applications_of(session, account_id=_me())
        return jsonify(applications=[application_json(session, a) for a in rows])


@blueprint.get("/archive")
@api_doc(
    "The caller's archive: every receipt, withdrawn ones marked 'annullata' (D-IST-3/6)",
    response=_object({"receipts": {"type": "array", "items": {"type": "object"}}}),
)
@PERMISSIONS.require("istanze.read_own")
def archive() -> Any:
    with db.transaction() as session:
        return jsonify(
            receipts=[receipts.receipt_json(r) for r in receipts.archive_of(session, account_id=_me())]
        )


@blueprint.get("/archive/<uuid:receipt_id>/receipt.pdf")
@api_doc(
    "Download one receipt of the caller's archive (PDF/A), any time (D-IST-3)",
    errors=(404, 409),
    description="409 while the receipt is being prepared (its entry's state is in_preparazione).",
)
@PERMISSIONS.require("istanze.read_own")
def download(receipt_id: uuid.UUID) -> Any:
    with db.transaction() as session:
        receipt = receipts.receipt_of(session, account_id=_me(), receipt_id=receipt_id)
        if receipt is None:
            raise NotFound("No such receipt in your archive.")
        if receipt.content is None or receipt.sha256 is None:
            raise Conflict(
                code="receipt_pending",
                message="The receipt is being prepared: it will be in your archive shortly.",
            )
        content, filename, digest = receipt.content, receipt.filename, receipt.sha256
    response = Response(content, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["X-Content-SHA256"] = digest
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _contacts_invalid(exc: contacts.ContactsInvalid) -> ValidationFailed:
    language = _language()
    return ValidationFailed(
        "Alcuni dati di recapito non sono validi."
        if language == "it"
        else "Some contact details are not valid.",
        fields={name: error.message(language) for name, error in exc.errors.items()},
    )


@blueprint.get("/contacts")
@api_doc(
    "The caller's contact details in force (Variazione dati di recapito, D-IST-4)",
    response=CONTACTS_ANSWER,
)
@PERMISSIONS.require("istanze.read_own")
def read_contacts() -> Any:
    with db.transaction() as session:
        return jsonify(contacts=contacts.contacts_of(session, account_id=_me()))


@blueprint.put("/contacts")
@api_doc(
    "Change the caller's contact details: phones, address, nation, province, comune (D-IST-4)",
    request=CONTACTS_BODY,
    response=CONTACTS_ANSWER,
    errors=(400,),
    description="400 also answers details the lists refuse (a phone number, a comune of another province).",
)
@PERMISSIONS.require("istanze.submit")
def change_contacts() -> Any:
    data = json_body()
    if not isinstance(data, dict):
        raise ValidationFailed("The body must be an object.")
    try:
        with db.transaction() as session:
            current = contacts.update_contacts(session, account_id=_me(), data=data)
    except contacts.ContactsInvalid as exc:
        raise _contacts_invalid(exc) from None
    return jsonify(contacts=current)


@blueprint.get("/contacts/history")
@api_doc(
    "Every change of the caller's contact details, with its time (D-IST-4)",
    response=_object({"changes": {"type": "array", "items": CONTACT_CHANGE}}),
)
@PERMISSIONS.require("istanze.read_own")
def contacts_history() -> Any:
    with db.transaction() as session:
        rows = contacts.history(session, account_id=_me())
        return jsonify(
            changes=[
                {"changed_at": _aware(c.changed_at).isoformat(), "before": c.before, "after": c.after}
                for c in rows
            ]
        )


__all__ = ["register_applications"]
