"""The consent page, GET/POST /oidc/consent?next=<authorize URL> (issue 5, item 1): what a client that is
not first party asks for, in the user's language, with Consenti / Nega.

It needs IAM's session; `next` must be a local authorize URL (sessions.safe_next), whose client and scopes
the page reads again at every step, so a form cannot grant more than the request asked. The form carries a
CSRF token: /oidc/ is exempt from the app-wide check (its protocol endpoints have their own), so this view
calls csrf.protect() itself.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

from flask import Blueprint, redirect, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext

from iam.accounts.models import AccountState
from iam.audit.origin import current_origin
from iam.clients import service as clients
from iam.clients.service import Client
from iam.extensions import db
from iam.oidc import consent
from iam.pages import csrf
from iam.signin import sessions

blueprint = Blueprint("oidc_consent", __name__)

# What each scope releases, as the user reads it (iam.oidc.users.User.claims and the APIs decide the details).
SCOPE_DESCRIPTIONS = {
    "openid": lazy_gettext("Riconoscerti: un identificativo del tuo account, lo stesso a ogni accesso"),
    "profile": lazy_gettext("Il tuo nome utente, il tuo nome e cognome e la lingua che preferisci"),
    "email": lazy_gettext("Il tuo indirizzo email di riferimento e se è stato verificato"),
    "fiscal_number": lazy_gettext("Il tuo codice fiscale"),
    "iam": lazy_gettext("Leggere e modificare per tuo conto i dati del tuo account (Area Riservata)"),
    "enablement": lazy_gettext("Consultare e gestire per tuo conto la tua abilitazione a Istanze OnLine"),
    "istanze": lazy_gettext("Consultare e presentare per tuo conto le tue istanze su Istanze OnLine"),
    "notifier": lazy_gettext("Consultare e gestire gli invii delle email del sistema (operazioni)"),
}


@blueprint.route(consent.CONSENT_PATH, methods=["GET", "POST"])
def consent_page() -> ResponseReturnValue:
    if request.method == "POST":
        csrf.protect()
    target = _authorize_target(request.values.get("next"))
    if target is None:
        return _invalid_request()
    next_path, client, scopes = target
    current = sessions.signed_in()
    if current is None:
        return redirect(sessions.login_url(next_path), 303 if request.method == "POST" else 302)
    if current.account.state != AccountState.ACTIVE.value:
        if current.account.state == AccountState.MUST_CHANGE_PASSWORD.value:
            return redirect(f"{sessions.CHANGE_PASSWORD_PATH}?{urlencode({'next': next_path})}")
        return redirect(sessions.login_url(next_path))
    account_id = current.account.id
    if request.method == "GET":
        if not consent.needs_consent(db, account_id, client, scopes):
            return redirect(next_path)
        return render_template(
            "oidc/consent.html",
            client_name=client.name,
            username=current.account.username,
            scopes=[(name, SCOPE_DESCRIPTIONS.get(name, name)) for name in scopes],
            next=next_path,
        )
    decision = request.form.get("decision")
    if decision == "allow":
        consent.grant(db, account_id=account_id, client=client, scopes=scopes, origin=current_origin())
        return redirect(next_path, 303)
    if decision == "deny":
        consent.record_denial(
            db, account_id=account_id, client=client, scopes=scopes, origin=current_origin()
        )
        return redirect(consent.denied_url(next_path), 303)
    return _invalid_request()


def _authorize_target(value: str | None) -> tuple[str, Client, list[str]] | None:
    """The authorize URL of ?next= (local, without an earlier decision), its client and the scopes it asks
    that the client may have; None when it is not such a request."""
    next_path = sessions.safe_next(value)
    parts = urlsplit(next_path)
    if parts.path != consent.AUTHORIZE_PATH:
        return None
    query = parse_qs(parts.query)
    client_ids = query.get("client_id", [])
    client = clients.find(db, client_ids[0]) if len(client_ids) == 1 else None
    if client is None:
        return None
    scopes = consent.requested_scopes(client, " ".join(query.get("scope", [])))
    if not scopes:
        return None
    return consent.without_decision(next_path), client, scopes


def _invalid_request() -> ResponseReturnValue:
    # Shown here, never redirected: without a valid authorize request there is no client to answer.
    return render_template("oidc/error.html", error_code="invalid_request", description=None), 400
