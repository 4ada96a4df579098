"""D-IST-2/6 through the user's JSON API: declare the category, see the open procedures with time left,
save sections (errors per field in the caller's language), read the draft back; refusals change nothing."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask.testing import FlaskClient
from istanze.extensions import db
from istanze.procedures import service as procedures
from polis.testing.token_contract import bearer
from polis.testing.tokens import TestIssuer

API = "/api/istanze/v1"
FORM = {
    "sections": [
        {
            "id": "sedi",
            "fields": [
                {"name": "sedi", "type": "schools", "max_items": 2, "required": True},
                {"name": "dpr445", "type": "declaration", "required": True},
            ],
        }
    ]
}


def _publish(code: str, categories: list[str], opens_days: int, closes_days: int) -> None:
    today = datetime.now(ZoneInfo("Europe/Rome")).replace(
        tzinfo=None, hour=14, minute=0, second=0, microsecond=0
    )
    with db.transaction() as session:
        p = procedures.define(
            session,
            code=code,
            title_it=code,
            title_en=code,
            description_it="",
            description_en="",
            staff_categories=categories,
            opens_local=today + timedelta(days=opens_days),
            closes_local=today + timedelta(days=closes_days),
            form=FORM,
        )
        procedures.publish(session, code=code, version=p.version)


def test_d_ist_2_a_user_declares_ata_fills_the_open_d3_and_reads_it_back(
    client: FlaskClient, issuer: TestIssuer
) -> None:
    _publish("modello-d3", ["ata"], -1, 10)
    _publish("mobilita-docenti", ["docenti"], -1, 10)
    _publish("chiusa", ["ata"], -20, -10)
    me = bearer(issuer.token(audience="urn:polis:istanze"))

    assert client.put(f"{API}/profile", json={"staff_category": "ata"}, headers=me).status_code == 200
    listed = client.get(f"{API}/procedures/open", headers=me).get_json()
    assert {p["code"]: p["state"] for p in listed["procedures"]} == {"modello-d3": "open", "chiusa": "closed"}
    assert next(p for p in listed["procedures"] if p["code"] == "modello-d3")["seconds_left"] > 0

    saved = client.put(
        f"{API}/applications/modello-d3/sections/sedi",
        json={"sedi": ["RMPS01000A"], "dpr445": True},
        headers=me,
    )
    assert saved.status_code == 200 and saved.get_json()["state"] == "bozza"
    bad = client.put(
        f"{API}/applications/modello-d3/sections/sedi",
        json={"sedi": ["XXXX00000X"], "dpr445": True},
        headers={**me, "Accept-Language": "en"},
    )
    assert bad.status_code == 400
    assert bad.get_json()["error"]["fields"] == {"sedi": "School not in the list: XXXX00000X."}
    assert client.get(f"{API}/applications/modello-d3", headers=me).get_json()["answers"] == {
        "sedi": {"sedi": ["RMPS01000A"], "dpr445": True}
    }


def test_d_ist_6_refusals_other_category_closed_window_unknown_procedure_or_section(
    client: FlaskClient, issuer: TestIssuer
) -> None:
    _publish("mobilita-docenti", ["docenti"], -1, 10)
    _publish("chiusa", ["ata"], -20, -10)
    _publish("modello-d3", ["ata"], -1, 10)
    me = bearer(issuer.token(audience="urn:polis:istanze"))
    client.put(f"{API}/profile", json={"staff_category": "ata"}, headers=me)
    body = {"sedi": ["RMPS01000A"], "dpr445": True}

    other = client.put(f"{API}/applications/mobilita-docenti/sections/sedi", json=body, headers=me)
    assert (other.status_code, other.get_json()["error"]["code"]) == (403, "not_your_category")
    closed = client.put(f"{API}/applications/chiusa/sections/sedi", json=body, headers=me)
    assert (closed.status_code, closed.get_json()["error"]["code"]) == (403, "window_closed")
    assert client.put(f"{API}/applications/nessuna/sections/sedi", json=body, headers=me).status_code == 404
    assert (
        client.put(f"{API}/applications/modello-d3/sections/finta", json=body, headers=me).status_code == 404
    )
    assert client.get(f"{API}/applications/chiusa", headers=me).status_code == 404
    bad_category = client.put(f"{API}/profile", json={"staff_category": "astronauti"}, headers=me)
    assert bad_category.status_code == 400
