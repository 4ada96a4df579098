"""The form of a procedure (issue 15 items 2, 3), at /istanze/procedure/<code>: rendered from the procedure's
declarative definition one section at a time (?sezione=<id>), saved section by section, resumable."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from flask import abort, redirect, render_template, request

from istanze.applications import service
from istanze.applications.models import DRAFT
from istanze.pages import page_permission
from istanze.pages.common import (
    EXTRA_SCHOOL_ROWS,
    HOME,
    _context,
    _field_errors,
    _field_ids,
    _me,
    _refusal,
    _sections,
    blueprint,
    field_label,
    guarded_step,
    open_for_me,
)
from istanze.procedures.models import Procedure


def _posted_answers(fields: list[Mapping[str, Any]], stored: Mapping[str, Any]) -> dict[str, Any]:
    """The section's answers from the posted form, by the definition (names not in it are not read)."""
    answers: dict[str, Any] = {}
    for field in fields:
        name, kind = str(field["name"]), field["type"]
        if kind == "schools":
            rows = int(field.get("max_items", 20))
            chosen = [request.form.get(f"{name}-{n}", "").strip() for n in range(1, rows + 1)]
            answers[name] = [code for code in chosen if code]
        elif kind == "declaration":
            answers[name] = request.form.get(name, "")
        elif kind == "attachment":
            upload = request.files.get(name)
            content = upload.read() if upload is not None and upload.filename else b""
            if content:  # forms.validation checks it is a PDF within the limit, by its content
                encoded = base64.b64encode(content).decode("ascii")
                answers[name] = {"filename": upload.filename, "content_base64": encoded}  # type: ignore[union-attr]
            else:
                answers[name] = stored.get(name)  # no new file: the one kept stays
        else:
            answers[name] = request.form.get(name, "")
    return answers


@blueprint.get("/procedure/<code>")
@page_permission("istanze.read_own")
def form(code: str) -> Any:
    with guarded_step(code) as step:
        procedure, application = step.procedure, step.application
        if not open_for_me(step.session, procedure):
            return _refusal("not_your_category", procedure, step.now, 403)
        if application is not None and application.state != DRAFT:
            return redirect(f"{HOME}procedure/{code}/riepilogo", 303)
        if not procedure.window.is_open(step.now):
            return redirect(f"{HOME}procedure/{code}/riepilogo", 303)
        answers = dict(application.answers) if application is not None else {}
        return _section_page(procedure, step.now, request.args.get("sezione"), answers, {}, None)


def _section_page(
    procedure: Procedure,
    now: datetime,
    section_id: str | None,
    answers: Mapping[str, Any],
    errors: Mapping[str, str],
    posted: Mapping[str, Any] | None,
    *,
    saved: bool = False,
) -> str:
    sections = _sections(procedure)
    ids = [str(s["id"]) for s in sections]
    if section_id is None:
        section_id = ids[0]
    if section_id not in ids:
        abort(404)
    index = ids.index(section_id)
    section = sections[index]
    values = dict(posted if posted is not None else answers.get(section_id, {}))
    fields = list(section["fields"])
    rows = {}
    for field in fields:
        if field["type"] == "schools":
            chosen = list(values.get(field["name"]) or [])
            limit = int(field.get("max_items", 20))
            rows[field["name"]] = chosen + [""] * (min(limit, len(chosen) + EXTRA_SCHOOL_ROWS) - len(chosen))
    kept = {
        f["name"]: bool(answers.get(section_id, {}).get(f["name"]))
        for f in fields
        if f["type"] == "attachment"
    }
    return render_template(
        "istanze/form.html",
        section=section,
        index=index,
        fields=fields,
        values=values,
        school_rows=rows,
        attachments_kept=kept,
        errors=dict(errors),
        error_ids=_field_ids(fields),
        labels={str(f["name"]): field_label(f) for f in fields},
        next_id=ids[index + 1] if index + 1 < len(ids) else None,
        previous_id=ids[index - 1] if index > 0 else None,
        saved=saved or request.args.get("salvata") == "1",
        **_context(procedure, now),
    )


@blueprint.post("/procedure/<code>/sezione/<section_id>")
@page_permission("istanze.submit")
def save(code: str, section_id: str) -> Any:
    with guarded_step(code) as step:
        session, procedure, application, now = step.session, step.procedure, step.application, step.now
        try:
            fields = list(next(s for s in _sections(procedure) if s["id"] == section_id)["fields"])
        except StopIteration:
            abort(404)
        stored = dict(application.answers.get(section_id, {})) if application is not None else {}
        answers = _posted_answers(fields, stored)
        try:
            service.save_section(
                session, account_id=_me(), code=code, section=section_id, answers=answers, now=lambda: now
            )
        except service.NotAllowed as exc:
            if exc.reason == "not_a_draft":
                return redirect(f"{HOME}procedure/{code}/riepilogo", 303)
            return _refusal(exc.reason, procedure, now, 403)
        except service.SectionInvalid as exc:
            current = dict(application.answers) if application is not None else {}
            shown = {k: v for k, v in answers.items() if not isinstance(v, Mapping | type(None))}
            page = _section_page(procedure, now, section_id, current, _field_errors(exc.errors), shown)
            return page, 400
    ids = [str(s["id"]) for s in _sections(procedure)]
    following = ids.index(section_id) + 1
    if request.form.get("azione") == "resta":
        target = f"{HOME}procedure/{code}?sezione={section_id}&salvata=1"
    elif following < len(ids):
        target = f"{HOME}procedure/{code}?sezione={ids[following]}&salvata=1"
    else:
        target = f"{HOME}procedure/{code}/riepilogo"
    return redirect(target, 303)
