"""Ops endpoints for the offices (ops role via polis.auth): the submitted applications of a procedure as CSV
or JSON, streamed, and the counts per state. Under /ops/: the public gateway refuses these paths."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, jsonify, stream_with_context
from polis.errors import NotFound
from polis.web import api_doc

from istanze.extensions import db
from istanze.ops import export
from istanze.permissions import PERMISSIONS
from istanze.procedures import service as procedures

blueprint = Blueprint("istanze_ops", __name__, url_prefix="/api/istanze/v1/ops/procedures")


def register_ops(app: Flask) -> None:
    app.register_blueprint(blueprint)


def _form(code: str) -> dict[str, Any]:
    try:
        with db.transaction() as session:
            return dict(procedures.published(session, code=code).form)
    except procedures.UnknownProcedure:
        raise NotFound("No such procedure.") from None


@blueprint.get("/<code>/applications.csv")
@api_doc("The submitted applications of a procedure as CSV, streamed", errors=(404,), tags=("ops",))
@PERMISSIONS.require("istanze.ops")
def export_csv(code: str) -> Any:
    form = _form(code)
    response = Response(stream_with_context(export.csv_chunks(db, code=code, form=form)), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="istanze-{code}.csv"'
    return response


@blueprint.get("/<code>/applications.json")
@api_doc("The submitted applications of a procedure as JSON, streamed", errors=(404,), tags=("ops",))
@PERMISSIONS.require("istanze.ops")
def export_json(code: str) -> Any:
    form = _form(code)
    return Response(
        stream_with_context(export.json_chunks(db, code=code, form=form)), mimetype="application/json"
    )


@blueprint.get("/<code>/counts")
@api_doc("Applications of a procedure per state: bozza, inoltrata, annullata", errors=(404,), tags=("ops",))
@PERMISSIONS.require("istanze.ops")
def state_counts(code: str) -> Any:
    _form(code)
    with db.transaction() as session:
        return jsonify(procedure_code=code, counts=export.counts(session, code=code))
