"""D-IST-1: ops define and publish procedures through the API (ops role, polis.auth) and the CLI; bad
definitions are refused field by field and change nothing; users cannot define procedures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient
from polis.testing.token_contract import bearer
from polis.testing.tokens import TestIssuer

URL = "/api/istanze/v1/ops/procedures"  # ops prefix: the public gateway refuses it
AUDIENCE = "urn:polis:istanze"
DEFINITION: dict[str, Any] = {
    "code": "modello-d3",
    "title_it": "Modello D3",
    "title_en": "Form D3",
    "description_it": "Scelta delle sedi",
    "description_en": "Choice of schools",
    "staff_categories": ["ata"],
    "opens_local": "2027-03-01T09:00:00",
    "closes_local": "2027-03-28T14:00:00",
    "form": {"sections": [{"id": "sedi", "fields": [{"name": "schools", "type": "schools"}]}]},
}


def _ops(issuer: TestIssuer) -> dict[str, str]:
    return bearer(issuer.ops_token("istanze"))


def test_d_ist_1_ops_define_a_version_and_publish_it(client: FlaskClient, issuer: TestIssuer) -> None:
    created = client.post(URL, json=DEFINITION, headers=_ops(issuer))
    assert created.status_code == 201
    body = created.get_json()
    assert (body["version"], body["status"]) == (1, "draft")
    # The last Sunday of March: 14:00 in Rome is summer time, +02:00.
    assert body["closes_at"] == "2027-03-28T14:00:00+02:00"

    published = client.post(f"{URL}/modello-d3/versions/1/publish", headers=_ops(issuer))
    assert published.status_code == 200 and published.get_json()["status"] == "published"
    listed = client.get(URL, headers=_ops(issuer)).get_json()["procedures"]
    assert [(p["code"], p["version"], p["status"]) for p in listed] == [("modello-d3", 1, "published")]


def test_d_ist_1_an_invalid_definition_is_refused_with_its_fields_and_nothing_is_saved(
    client: FlaskClient, issuer: TestIssuer
) -> None:
    bad = {**DEFINITION, "staff_categories": ["astronauti"], "closes_local": "2027-10-31T02:30:00"}
    refused = client.post(URL, json=bad, headers=_ops(issuer))
    assert refused.status_code == 400
    error = refused.get_json()["error"]
    assert error["code"] == "validation_failed"
    assert set(error["fields"]) == {"staff_categories", "window"}
    unknown = client.post(URL, json={**DEFINITION, "colour": "red"}, headers=_ops(issuer))
    assert unknown.status_code == 400 and "colour" in unknown.get_json()["error"]["fields"]
    assert client.get(URL, headers=_ops(issuer)).get_json()["procedures"] == []
    missing = client.post(f"{URL}/modello-d3/versions/9/publish", headers=_ops(issuer))
    assert missing.status_code == 404


def test_a_users_token_cannot_define_procedures(client: FlaskClient, issuer: TestIssuer) -> None:
    response = client.post(URL, json=DEFINITION, headers=bearer(issuer.token(audience=AUDIENCE)))
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "insufficient_scope"


def test_d_ist_1_the_cli_defines_and_publishes_from_a_json_file(
    client: FlaskClient, issuer: TestIssuer, tmp_path: Path
) -> None:
    runner = client.application.test_cli_runner()
    path = tmp_path / "d3.json"
    path.write_text(json.dumps(DEFINITION))
    defined = runner.invoke(args=["procedures", "define", str(path)])
    assert defined.exit_code == 0 and "version 1 defined" in defined.output
    assert runner.invoke(args=["procedures", "publish", "modello-d3", "1"]).exit_code == 0

    path.write_text(json.dumps({**DEFINITION, "opens_local": "2027-04-01T09:00:00"}))
    refused = runner.invoke(args=["procedures", "define", str(path)])
    assert refused.exit_code != 0 and "window" in refused.output
    listed = client.get(URL, headers=_ops(issuer)).get_json()["procedures"]
    assert [(p["version"], p["status"]) for p in listed] == [(1, "published")]
