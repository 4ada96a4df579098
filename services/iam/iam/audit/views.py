"""The ops query API of the audit trail: `GET /api/iam/v1/ops/audit` (newest first, paged)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, request
from polis.web import api_doc, load

from iam.audit import service
from iam.audit.schemas import AuditEntrySchema, AuditPageSchema, AuditQuerySchema
from iam.extensions import db
from iam.ops import ops_required

blueprint = Blueprint("audit", __name__, url_prefix="/api/iam/v1/ops/audit")


def register_audit(app: Flask) -> None:
    app.register_blueprint(blueprint)


@blueprint.get("")
@api_doc(
    "Query the audit trail: filter by account, action and time; newest first; next_offset pages on",
    response=AuditPageSchema,
    errors=(400, 401),
    query=AuditQuerySchema,
    tags=("ops",),
)
@ops_required
def query() -> dict[str, Any]:
    filters = load(AuditQuerySchema(), request.args.to_dict())
    entries, next_offset = service.find_entries(db=db, **filters)
    body: dict[str, Any] = {
        "entries": AuditEntrySchema(many=True).dump(entries),
        "next_offset": next_offset,
    }
    return body
