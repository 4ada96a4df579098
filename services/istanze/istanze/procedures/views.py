"""The procedures' ops API (D-IST-1): define a version, publish it, list them. Ops role via polis.auth."""

from __future__ import annotations

import json
from typing import Any

import click
from flask import Blueprint, Flask, jsonify
from polis.errors import NotFound, ValidationFailed
from polis.web import api_doc, json_body, load
from sqlalchemy import select

from istanze.extensions import db
from istanze.permissions import PERMISSIONS
from istanze.procedures import schemas, service
from istanze.procedures.models import Procedure

blueprint = Blueprint("istanze_procedures", __name__, url_prefix="/api/istanze/v1/ops/procedures")
READ = schemas.ProcedureReadSchema()


def register_procedures(app: Flask) -> None:
    app.register_blueprint(blueprint)
    app.cli.add_command(procedures_cli)


@blueprint.post("")
@api_doc(
    "Define a new (draft) version of a procedure",
    request=schemas.ProcedureCreateSchema,
    description=(
        "400 also answers a form definition, categories or window the procedure rules refuse (fields named)."
    ),
    response=schemas.ProcedureReadSchema,
    status=201,
    errors=(400,),
    tags=("procedures",),
    links={  # what stateful fuzzing follows (issue 17)
        "publish": (
            "POST",
            "/api/istanze/v1/ops/procedures/{code}/versions/{version}/publish",
            {"code": "$response.body#/code", "version": "$response.body#/version"},
        ),
        "counts": ("GET", "/api/istanze/v1/ops/procedures/{code}/counts", {"code": "$response.body#/code"}),
    },
)
@PERMISSIONS.require("istanze.ops")
def define() -> Any:
    data = load(schemas.ProcedureCreateSchema(), json_body())
    try:
        with db.transaction() as session:
            procedure = service.define(session, **data)
            body = READ.dump(procedure)
    except service.ProcedureError as exc:
        raise ValidationFailed(str(exc), fields=exc.fields) from None
    return jsonify(body), 201


# A version beyond a database integer is no version (issue 17: fuzzing found a 500 on 16863061495588153344).
@blueprint.post("/<code>/versions/<int(max=2147483647):version>/publish")
@api_doc("Publish one version (validated again)", response=schemas.ProcedureReadSchema, errors=(400, 404))
@PERMISSIONS.require("istanze.ops")
def publish(code: str, version: int) -> Any:
    try:
        with db.transaction() as session:
            body = READ.dump(service.publish(session, code=code, version=version))
    except service.UnknownProcedure:
        raise NotFound("No such procedure version.") from None
    except service.ProcedureError as exc:
        raise ValidationFailed(str(exc), fields=exc.fields) from None
    return jsonify(body)


@blueprint.get("")
@api_doc("Every version of every procedure", tags=("procedures",))
@PERMISSIONS.require("istanze.ops")
def list_all() -> Any:
    with db.transaction() as session:
        rows = session.scalars(select(Procedure).order_by(Procedure.code, Procedure.version))
        return jsonify(procedures=[READ.dump(p) for p in rows])


@click.group("procedures")
def procedures_cli() -> None:
    """Define and publish procedures (D-IST-1)."""


@procedures_cli.command("define")
@click.argument("definition", type=click.File("r"))
def define_command(definition: Any) -> None:
    """Define a new draft version from a JSON file (the API's body)."""
    from marshmallow import ValidationError

    try:
        data = schemas.ProcedureCreateSchema().load(json.load(definition))
        with db.transaction() as session:
            procedure = service.define(session, **data)
            click.echo(f"{procedure.code} version {procedure.version} defined (draft)")
    except (ValidationError, service.ProcedureError) as exc:
        problems = getattr(exc, "fields", None) or getattr(exc, "messages", {})
        raise click.ClickException(f"not valid: {json.dumps(problems, ensure_ascii=False)}") from None


@procedures_cli.command("publish")
@click.argument("code")
@click.argument("version", type=int)
def publish_command(code: str, version: int) -> None:
    """Publish version VERSION of CODE."""
    try:
        with db.transaction() as session:
            service.publish(session, code=code, version=version)
    except service.UnknownProcedure:
        raise click.ClickException(f"no version {version} of {code}") from None
    except service.ProcedureError as exc:
        raise click.ClickException(f"not valid: {json.dumps(exc.fields, ensure_ascii=False)}") from None
    click.echo(f"{code} version {version} published")
