"""MI accounts over HTTP and the command line (D-ACC-2).

- Ops: `POST /api/iam/v1/ops/mi-accounts/import` (text/csv body, or JSON {"csv": "..."}) and
  `flask --app iam mi-import FILE.csv`.
- Security officer (IAM's SSO session, role security_officer):
  `GET /api/iam/v1/security-officer/mi-accounts?q=` and
  `POST /api/iam/v1/security-officer/mi-accounts/<id>/password-reset` (a JSON body: no plain form posts it).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import click
from flask import Blueprint, Flask, g, request
from polis.errors import PayloadTooLarge, ValidationFailed
from polis.web import api_doc, json_body, load

from iam.audit.origin import current_origin
from iam.audit.service import Origin
from iam.extensions import db
from iam.institutional import service
from iam.institutional.schemas import (
    MAX_CSV_CHARS,
    ImportRequestSchema,
    ImportResultSchema,
    MiAccountSchema,
    MiSearchResultSchema,
    MiSearchSchema,
    ResetDoneSchema,
    ResetRequestSchema,
)
from iam.ops import ops_actor, ops_required
from iam.permissions import api_login_required
from iam.recovery.policy import policy as recovery_policy

ops = Blueprint("mi_ops", __name__, url_prefix="/api/iam/v1/ops/mi-accounts")
officer = Blueprint("security_officer", __name__, url_prefix="/api/iam/v1/security-officer")


def register_institutional(app: Flask) -> None:
    app.register_blueprint(ops)
    app.register_blueprint(officer)
    app.cli.add_command(mi_import_command)
    from iam.institutional.pages import register_security_officer_pages

    register_security_officer_pages(app)


def _csv_text() -> str:
    if request.mimetype == "text/csv":
        raw = request.get_data(cache=False)
        if len(raw) > MAX_CSV_CHARS:
            raise PayloadTooLarge()
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationFailed("The file must be UTF-8 encoded.", fields={"csv": ["not_utf8"]}) from None
    data: dict[str, str] = load(ImportRequestSchema(), json_body())
    return data["csv"]


@ops.post("/import")
@api_doc(
    "Import MI accounts from CSV (codice_fiscale,first_name,last_name,institutional_email): all or nothing",
    request=ImportRequestSchema,
    description=(
        "400 (import_rejected) also answers a CSV of the documented form whose header or rows are "
        "refused (rows listed)."
    ),
    response=ImportResultSchema,
    errors=(400, 401, 413, 415),
    tags=("ops",),
)
@ops_required
def import_accounts() -> dict[str, Any]:
    rows = service.parse_csv(_csv_text())
    result = service.import_mi_accounts(db=db, rows=rows, actor=ops_actor(), origin=current_origin())
    body: dict[str, Any] = ImportResultSchema().dump(result.as_dict())
    return body


@click.command("mi-import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def mi_import_command(csv_file: Path) -> None:
    """Import MI (institutional) accounts from a CSV file, all or nothing (D-ACC-2)."""
    try:
        rows = service.parse_csv(csv_file.read_text(encoding="utf-8"))
        result = service.import_mi_accounts(
            db=db,
            rows=rows,
            actor="ops:cli",
            origin=Origin(source_address="cli", user_agent="flask mi-import"),
        )
    except service.ImportRejected as rejected:
        for error in rejected.errors:
            click.echo(f"line {error['line']}: {error['field']}: {error['error']}", err=True)
        raise click.ClickException("nothing imported") from None
    except UnicodeDecodeError:
        raise click.ClickException("the file must be UTF-8 encoded; nothing imported") from None
    click.echo(
        f"created {len(result.created)}, updated {len(result.updated)}, unchanged {result.unchanged}"
        + (f": {', '.join(result.created)}" if result.created else "")
    )


@officer.get("/mi-accounts")
@api_doc(
    "Find an MI account by exact username or codice fiscale (security officer)",
    response=MiSearchResultSchema,
    errors=(400, 401, 403),
    query=MiSearchSchema,
    tags=("security officer",),
)
@api_login_required
def search() -> dict[str, Any]:
    query = load(MiSearchSchema(), request.args.to_dict())
    accounts = service.search_mi_accounts(db=db, officer_id=g.account.id, query=query["q"])
    return {"accounts": MiAccountSchema(many=True).dump(accounts)}


@officer.post("/mi-accounts/<uuid:account_id>/password-reset")
@api_doc(
    "Reset an MI password: a temporary password goes to the account's addresses; audited (D-ACC-2)",
    request=ResetRequestSchema,
    response=ResetDoneSchema,
    status=202,
    errors=(401, 403, 404),
    tags=("security officer",),
)
@api_login_required
def reset(account_id: uuid.UUID) -> tuple[dict[str, Any], int]:
    load(ResetRequestSchema(), json_body())
    expires_at = service.reset_mi_password(
        db=db,
        policy=recovery_policy(),
        officer_id=g.account.id,
        account_id=account_id,
        origin=current_origin(),
    )
    return ResetDoneSchema().dump({"status": "temporary_password_sent", "expires_at": expires_at}), 202
