"""The user's pages of Istanze OnLine (issue 15 items 2, 3, 4, 7, 9; D-IST-1/2/3/6), at /istanze/...:

- /istanze/                       the personal home: staff category, procedures open to it with their windows
                                  (Italian time) and time left, the user's applications, the archive, links
- /istanze/categoria              the staff category, declared
- /istanze/archivio/<id>/<file>   a receipt of the user's archive

The form is pages/form.py; the summary, the submission and its withdrawal pages/submission.py; what they
share (the blueprint, the guarded step, how things are shown) pages/common.py. The views only call the
service functions (applications.service, submission, withdrawal, procedures.service, forms.validation).
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response, abort, redirect, render_template, request
from flask_babel import gettext

from istanze.applications import service
from istanze.extensions import db
from istanze.pages import page_permission
from istanze.pages.common import (
    HOME,
    SERVICE_FUNCTIONS,
    STATE_TEXTS,
    _language,
    _me,
    _now,
    _state_label,
    _window,
    _withdrawn,
    blueprint,
    category_labels,
    italian_time,
)
from istanze.procedures import service as procedures
from istanze.procedures.service import STAFF_CATEGORIES
from istanze.receipts import service as receipts

# --- the personal home -------------------------------------------------------------------------------------


@blueprint.get("/")
@page_permission("istanze.read_own")
def home() -> Any:
    now, me = _now(), _me()
    with db.transaction() as session:
        category = service.category_of(session, account_id=me)
        visible = procedures.visible_to(session, staff_category=category)
        mine = service.applications_of(session, account_id=me)
        rows = []
        by_code = {a.procedure_code: a for a in mine}
        for procedure in visible:
            application = by_code.get(procedure.code)
            rows.append(
                {
                    "code": procedure.code,
                    "title": procedure.title_en if _language() == "en" else procedure.title_it,
                    "window": _window(procedure, now),
                    "state": _state_label(application, _withdrawn(session, application)),
                }
            )
        applications = []
        for application in mine:
            try:
                procedure = procedures.published(session, code=application.procedure_code)
            except procedures.UnknownProcedure:
                continue
            withdrawn = _withdrawn(session, application)
            title = procedure.title_en if _language() == "en" else procedure.title_it
            applications.append(
                {
                    "code": procedure.code,
                    "title": title,
                    "state": _state_label(application, withdrawn),
                    "updated": italian_time(application.updated_at),
                    "window": _window(procedure, now),
                }
            )
        archive = [
            {
                "id": str(r.id),
                "title": r.procedure_title,
                "number": r.number_text,
                "segnatura": r.segnatura,
                "submitted": italian_time(r.registered_at),
                "withdrawn": r.withdrawn_at is not None,
                "pending": r.sha256 is None,  # registered, the receipt being prepared: no link yet
                "receipt_url": f"{HOME}archivio/{r.id}/{r.filename}" if r.sha256 else None,
            }
            for r in receipts.archive_of(session, account_id=me)
        ]
    return render_template(
        "istanze/home.html",
        category=category,
        categories=category_labels(),
        procedures=rows,
        applications=applications,
        archive=archive,
        state_text=lambda s: STATE_TEXTS[s](),
        errors={},
        saved=request.args.get("categoria") == "salvata",
        service_functions=SERVICE_FUNCTIONS,
    )


@blueprint.post("/categoria")
@page_permission("istanze.read_own")
def declare_category() -> Any:
    chosen = request.form.get("staff_category", "")
    if chosen not in STAFF_CATEGORIES:
        return render_template(
            "istanze/category.html",
            categories=category_labels(),
            category=None,
            errors={"staff_category": gettext("Scegli una delle categorie dell'elenco.")},
        ), 400
    with db.transaction() as session:
        service.declare_category(session, account_id=_me(), staff_category=chosen, now=_now)
    return redirect(HOME + "?categoria=salvata", 303)


# --- the archive -------------------------------------------------------------------------------------------


@blueprint.get("/archivio/<receipt_id>/<filename>")
@page_permission("istanze.read_own")
def receipt(receipt_id: str, filename: str) -> Any:
    """A receipt of the user's archive, as filed (PDF/A); another user's or an unknown one is a 404."""
    try:
        wanted = uuid.UUID(receipt_id)
    except ValueError:
        abort(404)
    with db.transaction() as session:
        found = receipts.receipt_of(session, account_id=_me(), receipt_id=wanted)
        if found is None or found.filename != filename:
            abort(404)
        if found.content is None:  # being prepared: the summary says so, and the link appears when filed
            return redirect(f"{HOME}procedure/{found.procedure_code}/riepilogo", 303)
        content, name = bytes(found.content), found.filename
    return Response(
        content,
        mimetype="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "private, no-store",
        },
    )
