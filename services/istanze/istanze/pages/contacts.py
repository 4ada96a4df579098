"""Variazione dati di recapito (issue 15 item 8, D-IST-4) at /istanze/recapito: phones, address, nation,
province and comune of domicile, checked by istanze.contacts against the official lists; every change is
recorded with its time (the page lists the last ones)."""

from __future__ import annotations

import uuid
from typing import Any

from flask import redirect, render_template, request
from polis.auth import current_principal

from istanze.contacts import service as contacts
from istanze.extensions import db
from istanze.pages import page_permission
from istanze.pages.common import HOME, _language, _now, blueprint, italian_time

HISTORY_SHOWN = 10


def _me() -> uuid.UUID:
    return uuid.UUID(current_principal().subject)


def _page(values: dict[str, Any], errors: dict[str, str], *, saved: bool, status: int = 200) -> Any:
    with db.transaction() as session:
        changes = contacts.history(session, account_id=_me())[-HISTORY_SHOWN:]
        times = [italian_time(change.changed_at) for change in reversed(changes)]
    today = _now().date()
    page = render_template(
        "istanze/contacts.html",
        values=values,
        errors=errors,
        saved=saved,
        states=[(name, name) for name in contacts.states()],
        provinces=[(code, code) for code in contacts.provinces(today)],
        changes=times,
    )
    return page, status


@blueprint.get("/recapito")
@page_permission("istanze.read_own")
def contact_details() -> Any:
    with db.transaction() as session:
        current = contacts.contacts_of(session, account_id=_me()) or {"nation": contacts.ITALY}
    values = {name: current.get(name) or "" for name in contacts.FIELDS}
    return _page(values, {}, saved=request.args.get("salvati") == "1")


@blueprint.post("/recapito")
@page_permission("istanze.read_own")
def change_contact_details() -> Any:
    values = {name: request.form.get(name, "") for name in contacts.FIELDS}  # names not in the form unread
    try:
        with db.transaction() as session:
            contacts.update_contacts(session, account_id=_me(), data=values, now=_now)
    except contacts.ContactsInvalid as exc:
        language = _language()
        return _page(values, {n: e.message(language) for n, e in exc.errors.items()}, saved=False, status=400)
    return redirect(f"{HOME}recapito?salvati=1", 303)
