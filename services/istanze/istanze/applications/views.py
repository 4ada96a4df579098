"""The user's JSON API (D-IST-2/6): declare the staff category, see the procedures open to it, save a
draft's section, read the draft. The caller is the subject of IAM's access token (polis.auth)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify, request
from marshmallow import fields, validate
from polis.auth import current_principal
from polis.errors import Forbidden, NotFound, ValidationFailed
from polis.web import ApiSchema, api_doc, json_body, load

from istanze.applications import service
from istanze.applications.enablement import RpcCodeChecker
from istanze.applications.submission import CodeChecker, CodeRefused, submit
from istanze.applications.withdrawal import withdraw
from istanze.extensions import db
from istanze.permissions import PERMISSIONS
from istanze.procedures import service as procedures
from istanze.procedures.service import STAFF_CATEGORIES

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


@blueprint.put("/profile")
@api_doc("Declare the caller's staff category (D-IST-6)", request=CategorySchema, errors=(400,))
@PERMISSIONS.require("istanze.read_own")
def declare() -> Any:
    data = load(CategorySchema(), json_body())
    with db.transaction() as session:
        service.declare_category(session, account_id=_me(), staff_category=data["staff_category"])
    return jsonify(staff_category=data["staff_category"])


@blueprint.get("/procedures/open")
@api_doc("Published procedures of the caller's staff category, with their windows (D-IST-1/6)")
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


@blueprint.put("/applications/<code>/sections/<section>")
@api_doc("Save one section of the caller's draft (D-IST-2)", errors=(400, 403, 404))
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
        raise Forbidden(code=exc.reason, message="This procedure cannot be filled in now by you.") from None
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
        with db.transaction() as session:
            application = submit(
                session,
                account_id=_me(),
                code=code,
                personal_code=data["personal_code"],
                key=data["key"],
                check_code=current_app.extensions[CHECKER],
                arrived_at=arrived_at,
                administration=config["PROTOCOL_ADMINISTRATION_CODE"],
                aoo=config["PROTOCOL_AOO_CODE"],
                register=config["PROTOCOL_REGISTER"],
            )
            body = {
                "id": str(application.id),
                "state": application.state,
                "protocol_number": f"{application.protocol_number:07d}",
                "segnatura": application.segnatura,
                "submitted_at": _aware(application.submitted_at or arrived_at).isoformat(),
            }
    except procedures.UnknownProcedure:
        raise NotFound("No such procedure.") from None
    except service.NotAllowed as exc:
        raise Forbidden(code=exc.reason, message="This application cannot be submitted now.") from None
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
        raise Forbidden(code=exc.reason, message="This submission cannot be withdrawn now.") from None
    return jsonify(body)


@blueprint.get("/applications/<code>")
@api_doc("The caller's application of a procedure (D-IST-2)", errors=(404,))
@PERMISSIONS.require("istanze.read_own")
def read(code: str) -> Any:
    with db.transaction() as session:
        draft = service.application_of(session, account_id=_me(), code=code)
        if draft is None:
            raise NotFound("No application for this procedure.")
        return jsonify(id=str(draft.id), state=draft.state, answers=draft.answers)


__all__ = ["register_applications"]
