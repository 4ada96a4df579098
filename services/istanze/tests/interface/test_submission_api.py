"""D-IST-2/3 through the API: POST /applications/<code>/submission with the personal code; enablement's
answer comes from a fake checker here, and its absence (RpcUnavailable) is a readable 503 that keeps the
draft; the same click's key answers the same protocol number."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask.testing import FlaskClient
from istanze.applications.views import CHECKER
from istanze.extensions import db
from istanze_backend_support import publish_procedure
from polis.rpc import RpcUnavailable
from polis.testing.token_contract import bearer
from polis.testing.tokens import TestIssuer

API = "/api/istanze/v1"
FORM = {"sections": [{"id": "sedi", "fields": [{"name": "dpr445", "type": "declaration", "required": True}]}]}


def _open_d3_with_a_draft(client: FlaskClient, me: dict[str, str]) -> None:
    today = datetime.now(ZoneInfo("Europe/Rome")).replace(
        tzinfo=None, hour=14, minute=0, second=0, microsecond=0
    )
    with db.transaction() as session:
        publish_procedure(
            session,
            code="modello-d3",
            opens_local=today - timedelta(days=1),
            closes_local=today + timedelta(days=10),
            form=FORM,
        )
    client.put(f"{API}/profile", json={"staff_category": "ata"}, headers=me)
    assert (
        client.put(
            f"{API}/applications/modello-d3/sections/sedi", json={"dpr445": True}, headers=me
        ).status_code
        == 200
    )


def _checker(reply: dict[str, Any] | Exception) -> Any:
    def check(account_id: uuid.UUID, code: str) -> dict[str, Any]:
        if isinstance(reply, Exception):
            raise reply
        return reply

    return check


def test_d_ist_2_submission_with_the_right_code_once_per_click(
    client: FlaskClient, issuer: TestIssuer
) -> None:
    me = bearer(issuer.token(audience="urn:polis:istanze"))
    _open_d3_with_a_draft(client, me)
    app = client.application
    url = f"{API}/applications/modello-d3/submission"

    app.extensions[CHECKER] = _checker(RpcUnavailable("enablement.check_personal_code", "timeout"))
    down = client.post(url, json={"personal_code": "Codice-1", "key": "click-0001"}, headers=me)
    assert down.status_code == 503 and down.get_json()["error"]["code"] == "service_unavailable"

    app.extensions[CHECKER] = _checker({"valid": False, "status": "wrong"})
    wrong = client.post(url, json={"personal_code": "nope", "key": "click-0002"}, headers=me)
    assert wrong.status_code == 403
    assert wrong.get_json()["error"]["code"] == "personal_code_wrong"
    assert wrong.get_json()["error"]["fields"] == {"personal_code": "Codice personale non valido."}
    assert client.get(f"{API}/applications/modello-d3", headers=me).get_json()["state"] == "bozza"

    app.extensions[CHECKER] = _checker({"valid": False, "status": "not_enabled"})
    not_enabled = client.post(url, json={"personal_code": "x", "key": "click-0003"}, headers=me)
    assert not_enabled.get_json()["error"]["code"] == "personal_code_not_enabled"

    app.extensions[CHECKER] = _checker({"valid": True, "status": "ok"})
    first = client.post(url, json={"personal_code": "Codice-1", "key": "click-0004"}, headers=me)
    again = client.post(url, json={"personal_code": "Codice-1", "key": "click-0004"}, headers=me)
    assert first.status_code == 200 and first.get_json()["state"] == "inoltrata"
    assert first.get_json()["protocol_number"] == "0000001"
    assert again.get_json() == first.get_json()
    tampered = client.post(url, json={"personal_code": "Codice-1", "key": "k", "extra": 1}, headers=me)
    assert tampered.status_code == 400
