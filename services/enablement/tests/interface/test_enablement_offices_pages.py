"""Offices and operators for ops or a security officer (D-ENA-10), as the gateway forwards the page
(the session's token as Authorization): the list of offices with their operators, assigning by username
and ending an assignment, both audited; who may not; bad input changes nothing; the ops API's
unassignment."""

from __future__ import annotations

import re
import uuid
from typing import Any

from enablement.audit.models import AuditEntry
from enablement.extensions import db
from enablement.offices import service as offices
from polis.testing.token_contract import bearer
from polis.testing.tokens import TestIssuer
from sqlalchemy import select
from test_enablement_flow import API, AUDIENCE, _offices, _register

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PAGE = "/abilitazione/uffici"


def _as(issuer: TestIssuer, *roles: str) -> dict[str, str]:
    return bearer(issuer.token(audience=AUDIENCE, sub=str(uuid.uuid4()), roles=["user", *roles]))


def _assigned(operator_id: uuid.UUID) -> list[str]:
    with db.transaction() as session:
        return [office.code for office in offices.offices_of(session, operator_id)]


def _audited(action: str) -> list[AuditEntry]:
    with db.transaction() as session:
        found = list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))
        session.expunge_all()
        return found


def test_a_security_officer_assigns_and_unassigns_an_operator(app: Any, issuer: TestIssuer) -> None:
    """D-ENA-10: assigned by ops or a security officer, audited; then the operator acts for the office."""
    client = app.test_client()
    _offices()
    operator = _register("paolo.neri")
    officer = _as(issuer, "security_officer")

    page = client.get(PAGE, headers=officer)
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "RMIC8AB00X" in text and "MIPS01000C" in text
    assert "Nessun operatore" in text and 'for="username">Nome utente dell' in text
    token = CSRF.search(text).group(1)  # type: ignore[union-attr]

    done = client.post(
        f"{PAGE}/assegnazioni",
        data={"csrf_token": token, "office_code": "RMIC8AB00X", "username": "Paolo.Neri"},
        headers=officer,
    )
    assert done.status_code == 303 and done.headers["Location"] == f"{PAGE}?esito=assigned"
    assert _assigned(operator) == ["RMIC8AB00X"]
    [entry] = _audited("operator.assigned")
    assert entry.account_id == operator and entry.details == {"office": "RMIC8AB00X"}
    listed = client.get(f"{PAGE}?esito=assigned", headers=officer).get_data(as_text=True)
    assert 'id="done"' in listed and "paolo.neri" in listed and f'value="{operator}"' in listed

    removed = client.post(
        f"{PAGE}/rimozioni",
        data={"csrf_token": token, "office_code": "RMIC8AB00X", "operator_id": str(operator)},
        headers=officer,
    )
    assert removed.status_code == 303 and _assigned(operator) == []
    [entry] = _audited("operator.unassigned")
    assert entry.account_id == operator and entry.request_id is not None
    again = client.post(
        f"{PAGE}/rimozioni",
        data={"csrf_token": token, "office_code": "RMIC8AB00X", "operator_id": str(operator)},
        headers=officer,
    )
    assert again.status_code == 400 and "non è assegnato" in again.get_data(as_text=True)
    assert len(_audited("operator.unassigned")) == 1


def test_bad_input_is_shown_next_to_the_field_and_changes_nothing(app: Any, issuer: TestIssuer) -> None:
    client = app.test_client()
    _offices()
    ops = _as(issuer, "ops")
    token = CSRF.search(client.get(PAGE, headers=ops).get_data(as_text=True)).group(1)  # type: ignore[union-attr]

    unknown = client.post(
        f"{PAGE}/assegnazioni",
        data={"csrf_token": token, "office_code": "RMIC8AB00X", "username": "nessuno.tale"},
        headers=ops,
    )
    text = unknown.get_data(as_text=True)
    assert unknown.status_code == 400 and "Nessun account ha questo nome utente." in text
    assert 'aria-invalid="true"' in text and 'value="nessuno.tale"' in text  # what was typed is kept
    client.set_cookie("lang", "en")
    english = client.post(
        f"{PAGE}/assegnazioni", data={"csrf_token": token, "office_code": "", "username": ""}, headers=ops
    )
    client.delete_cookie("lang")
    assert english.status_code == 400
    assert "Choose one of the options." in english.get_data(as_text=True)
    assert "No account has this username." in english.get_data(as_text=True)
    forged = client.post(
        f"{PAGE}/assegnazioni", data={"office_code": "RMIC8AB00X", "username": "paolo.neri"}, headers=ops
    )
    assert forged.status_code == 400  # no CSRF token
    assert _audited("operator.assigned") == []


def test_only_ops_and_security_officers_reach_the_page(app: Any, issuer: TestIssuer) -> None:
    client = app.test_client()
    _offices()
    assert client.get(PAGE).status_code == 303  # not logged in: the login, coming back here
    assert client.get(PAGE, headers=_as(issuer)).status_code == 403
    assert client.get(PAGE, headers=_as(issuer, "operator")).status_code == 403
    operator = _register("paolo.neri")
    assert client.post(
        f"{PAGE}/assegnazioni",
        data={"office_code": "RMIC8AB00X", "username": "paolo.neri"},
        headers=_as(issuer, "operator"),
    ).status_code in (400, 403)
    assert _assigned(operator) == []


def test_the_ops_api_ends_an_assignment(app: Any, issuer: TestIssuer) -> None:
    client = app.test_client()
    _offices()
    operator = _register("paolo.neri")
    ops = bearer(issuer.token(audience=AUDIENCE, sub="polis-ops", roles=["ops"]))
    assigned = client.post(
        f"{API}/ops/operators", json={"operator_id": str(operator), "office_code": "RMIC8AB00X"}, headers=ops
    )
    assert assigned.status_code == 201 and _assigned(operator) == ["RMIC8AB00X"]
    path = f"{API}/ops/operators/{operator}/offices/RMIC8AB00X"
    assert client.delete(path, headers=_as(issuer, "operator")).status_code == 403
    assert client.delete(path, headers=ops).status_code == 204 and _assigned(operator) == []
    missing = client.delete(path, headers=ops)
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "not_found"
