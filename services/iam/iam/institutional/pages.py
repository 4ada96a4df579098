"""The security officer's page (D-ACC-2): /iam/area-riservata/sicurezza, find an MI account and reset it."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Flask, Response, flash, g, make_response, redirect, render_template, request
from flask_babel import gettext
from polis.errors import Forbidden

from iam.accounts.models import Account, Role
from iam.audit.origin import current_origin
from iam.extensions import db
from iam.institutional import service
from iam.recovery.messages import messages
from iam.recovery.policy import policy as recovery_policy
from iam.signin.sessions import login_required

blueprint = Blueprint("security_officer_pages", __name__, url_prefix="/iam/area-riservata/sicurezza")


def register_security_officer_pages(app: Flask) -> None:
    app.register_blueprint(blueprint)


def _require_officer() -> None:
    # Checked again by the service inside its transaction; here it spares a non-officer the page.
    if Role.SECURITY_OFFICER.value not in (g.account.roles or []):
        raise Forbidden()


@blueprint.get("")
@login_required
def search() -> tuple[str, int]:
    _require_officer()
    query = request.args.get("q", "").strip()
    errors: dict[str, list[str]] = {}
    accounts: list[Account] = []
    if query:
        if not 3 <= len(query) <= 64:
            errors["q"] = ["query_format"]
        else:
            accounts = service.search_mi_accounts(db=db, officer_id=g.account.id, query=query)
    context: dict[str, Any] = {
        "query": query,
        "accounts": accounts,
        "errors": messages(errors),
        "account": g.account,
    }
    return render_template("institutional/security.html", **context), 400 if errors else 200


@blueprint.route("/reset/<uuid:account_id>", methods=["GET", "POST"])
@login_required
def reset(account_id: uuid.UUID) -> Response | tuple[str, int]:
    """A reset is confirmed on its own page, which names the account (issue 13 item 7): a click in the
    search results only asks; the POST with confirm=yes resets."""
    _require_officer()
    query = (request.values.get("q") or "")[:64]
    if request.method == "GET" or request.form.get("confirm") != "yes":
        target = service.resettable_mi_account(db=db, officer_id=g.account.id, account_id=account_id)
        page = render_template(
            "institutional/reset_confirm.html", target=target, query=query, account=g.account
        )
        return page, 200
    service.reset_mi_password(
        db=db,
        policy=recovery_policy(),
        officer_id=g.account.id,
        account_id=account_id,
        origin=current_origin(),
    )
    flash(
        gettext(
            "Password temporanea inviata agli indirizzi dell'utenza. L'operazione è registrata a tuo nome."
        ),
        "success",
    )
    back = f"/iam/area-riservata/sicurezza?{urlencode({'q': query})}"
    return make_response(redirect(back, code=303))
