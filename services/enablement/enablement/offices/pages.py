"""Offices and their operators (through the gateway at /abilitazione/uffici), for ops or a security
officer (D-ENA-10): the list of offices with their operators, assigning an operator (by IAM username) and
ending an assignment, both audited; the latest identifications (D-ENA-3). Thin: parse, call the service,
render; a problem shows next to its field in the user's language and changes nothing."""

from __future__ import annotations

import re
import uuid
from typing import Any

from flask import Blueprint, redirect, render_template, request
from polis.auth import current_principal
from polis.errors import NotFound

from enablement.accounts import service as accounts
from enablement.audit.service import current_origin
from enablement.extensions import db
from enablement.offices import service as offices
from enablement.pages import page_permission
from enablement.pages.messages import messages
from enablement.requests import identification

blueprint = Blueprint("office_pages", __name__, url_prefix="/abilitazione/uffici")
PAGE = "/abilitazione/uffici"
USERNAME = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,62}$")
DONE = ("assigned", "unassigned")
SHOWN_IDENTIFICATIONS = 20


@blueprint.get("")
@page_permission("enablement.assign")
def office_list() -> Any:
    done = request.args.get("esito")
    return _page(errors={}, values={}, done=done if done in DONE else None)


@blueprint.post("/assegnazioni")
@page_permission("enablement.assign")
def assign() -> Any:
    values = {key: request.form.get(key, "").strip() for key in ("office_code", "username")}
    errors: dict[str, list[str]] = {}
    if not values["office_code"]:
        errors["office_code"] = ["choose"]
    if not USERNAME.match(values["username"].lower()):
        errors["username"] = ["operator_unknown"]
    if not errors:
        with db.transaction() as session:
            account = accounts.by_username(session, values["username"])
            operator_id = account.account_id if account is not None else None
        if operator_id is None:
            errors["username"] = ["operator_unknown"]
        else:
            try:
                offices.assign_operator(
                    db=db,
                    operator_id=operator_id,
                    office_code=values["office_code"],
                    actor=current_principal().subject,
                    origin=current_origin(),
                )
                return redirect(f"{PAGE}?esito=assigned", 303)
            except NotFound:
                errors["office_code"] = ["choose"]
    return _page(errors=messages(errors), values=values, done=None), 400


@blueprint.post("/rimozioni")
@page_permission("enablement.assign")
def unassign() -> Any:
    try:
        operator_id = uuid.UUID(request.form.get("operator_id", ""))
        offices.unassign_operator(
            db=db,
            operator_id=operator_id,
            office_code=request.form.get("office_code", ""),
            actor=current_principal().subject,
            origin=current_origin(),
        )
    except (ValueError, NotFound):
        return _page(errors=messages({"_form": ["not_assigned"]}), values={}, done=None), 400
    return redirect(f"{PAGE}?esito=unassigned", 303)


def _page(*, errors: dict[str, list[str]], values: dict[str, str], done: str | None) -> str:
    recent = identification.identifications(db=db, limit=SHOWN_IDENTIFICATIONS)
    with db.transaction() as session:
        every = offices.all_offices(session)
        by_office = offices.operators_by_office(session)
        known = accounts.many(
            session,
            [*{o for ids in by_office.values() for o in ids}, *{uuid.UUID(i["operator_id"]) for i in recent}],
        )
        names = {account_id: account.username or str(account_id) for account_id, account in known.items()}
        rows = [
            {
                "code": office.code,
                "name": office.name,
                "kind": office.kind,
                "address": office.address,
                "operators": [
                    {"id": str(operator_id), "username": names.get(operator_id, str(operator_id))}
                    for operator_id in by_office.get(office.id, [])
                ],
            }
            for office in every
        ]
    for entry in recent:
        entry["operator"] = names.get(uuid.UUID(entry["operator_id"]), entry["operator_id"])
    return render_template(
        "enablement/offices.html",
        offices=rows,
        choices=[(row["code"], f"{row['name']} ({row['code']})") for row in rows],
        identifications=recent,
        errors=errors,
        values=values,
        done=done,
    )
