"""The ops page of revocation rounds: /iam/area-riservata/revoche lists every round with counts and progress
(accounts with the ops role; the rounds are driven through the ops API or the command line)."""

from __future__ import annotations

from flask import Blueprint, Flask, g, render_template
from polis.errors import Forbidden

from iam.accounts.models import Role
from iam.extensions import db
from iam.revocation import service
from iam.signin.sessions import login_required

blueprint = Blueprint("revocation_pages", __name__, url_prefix="/iam/area-riservata/revoche")


def register_revocation_pages(app: Flask) -> None:
    app.register_blueprint(blueprint)


@blueprint.get("")
@login_required
def rounds() -> str:
    if Role.OPS.value not in (g.account.roles or []):
        raise Forbidden()
    return render_template("revocation/rounds.html", rounds=service.list_rounds(db=db), account=g.account)
