"""Issue 15 item 10: the offices' ops API exports the submitted applications of a procedure as CSV and JSON,
streamed (the rows are never all in memory), and counts them per state; only the ops role, under /ops/."""

from __future__ import annotations

import csv
import io
import json
import tracemalloc
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient
from istanze.applications.models import Application, Withdrawal
from istanze.extensions import db
from istanze_backend_support import publish_procedure
from polis.testing.tokens import TestIssuer
from sqlalchemy import insert

AUDIENCE = "urn:polis:istanze"
FORM = {
    "sections": [
        {
            "id": "sedi",
            "fields": [
                {"name": "schools", "type": "schools", "max_items": 3, "required": True},
                {"name": "dpr445", "type": "declaration", "required": True},
            ],
        }
    ]
}
ROWS = 50_000
AT = datetime(2027, 10, 2, 8, 0, tzinfo=UTC)


def _ops(issuer: TestIssuer) -> dict[str, str]:
    token = issuer.token(
        audience=AUDIENCE, sub="polis-ops", client_id="polis-ops", auth_time=None, roles=["ops"]
    )
    return {"Authorization": f"Bearer {token}"}


def _procedure(code: str = "modello-d3") -> None:
    with db.transaction() as session:
        publish_procedure(
            session,
            code=code,
            opens_local=datetime(2027, 10, 1, 9, 0),
            closes_local=datetime(2027, 10, 31, 14, 0),
            form=FORM,
        )


def _applications(count: int, *, state: str = "inoltrata", first: int = 1) -> None:
    rows = [
        {
            "id": uuid.uuid4(),
            "account_id": uuid.uuid4(),
            "procedure_code": "modello-d3",
            "state": state,
            "answers": {"sedi": {"schools": ["RMPS01000A", "RMIC8AB00X"], "dpr445": True}},
            "created_at": AT,
            "updated_at": AT,
            "protocol_year": 2027 if state == "inoltrata" else None,
            "protocol_number": first + i if state == "inoltrata" else None,
            "segnatura": f"m_pi.AOODGPER.REGISTRO UFFICIALE.U.{first + i:07d}.02/10/2027"
            if state == "inoltrata"
            else None,
            "submitted_at": AT + timedelta(seconds=i) if state == "inoltrata" else None,
            "submission_key": None,
        }
        for i in range(count)
    ]
    with db.transaction() as session:
        for start in range(0, count, 5000):
            session.execute(insert(Application), rows[start : start + 5000])


def test_the_csv_export_streams_50k_rows_with_bounded_memory(client: FlaskClient, issuer: TestIssuer) -> None:
    _procedure()
    _applications(ROWS)
    _applications(3, state="bozza")  # drafts are not exported
    warm = client.get("/api/istanze/v1/ops/procedures/modello-d3/counts", headers=_ops(issuer))
    assert warm.status_code == 200  # first request's imports and caches out of the trace
    # Memory is traced from the request through the first 20 chunks (several fetch batches of rows): an
    # export that loaded the rows before writing would peak here (stream_with_context starts the generator
    # when the response is made, so the trace starts before the request).
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        response = client.get(
            "/api/istanze/v1/ops/procedures/modello-d3/applications.csv", headers=_ops(issuer), buffered=False
        )
        assert response.status_code == 200 and response.mimetype == "text/csv"
        assert response.is_streamed
        chunks_in = iter(response.response)
        sizes: list[int] = []
        head = b""
        lines = 0
        for chunk in chunks_in:
            data = chunk if isinstance(chunk, bytes) else chunk.encode()
            head = head or data[:4096]
            sizes.append(len(data))
            lines += data.count(b"\n")
            if len(sizes) == 20:
                break
        peak = tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()
    for chunk in chunks_in:  # the rest, untraced (tracing is slow)
        data = chunk if isinstance(chunk, bytes) else chunk.encode()
        sizes.append(len(data))
        lines += data.count(b"\n")
    response.close()
    total, chunks = sum(sizes), len(sizes)
    assert lines == ROWS + 1  # the header and one line per submitted application
    assert chunks > 50  # handed on piece by piece, not as one body
    # The whole CSV is several megabytes; the export never held more than a small part of it at once.
    assert total > 8 * 1024 * 1024
    assert max(sizes) < 256 * 1024  # each chunk is a small piece: the buffer is emptied as it goes
    # Loading the rows first peaks near 70 MB here; streaming stays at a few MB, under the output's size.
    assert peak < 8 * 1024 * 1024 < total, (peak, total)
    reader = csv.DictReader(
        io.StringIO(head.decode().split("\n", 2)[0] + "\n" + head.decode().split("\n", 2)[1])
    )
    first = next(reader)
    assert first["protocol_number"] == "0000001" and first["sedi.schools"] == "RMPS01000A;RMIC8AB00X"
    assert first["submitted_at"] == "2027-10-02T10:00:00+02:00"  # Italian time


def test_the_json_export_and_the_counts_per_state(client: FlaskClient, issuer: TestIssuer) -> None:
    _procedure()
    _applications(7)
    _applications(2, state="bozza")
    with db.transaction() as session:
        withdrawn_from = session.query(Application).filter_by(state="bozza").first()
        assert withdrawn_from is not None
        session.add(
            Withdrawal(
                application_id=withdrawn_from.id,
                protocol_year=2027,
                protocol_number=99,
                segnatura="x",
                submitted_at=AT,
                withdrawn_at=AT,
            )
        )
    body = client.get("/api/istanze/v1/ops/procedures/modello-d3/applications.json", headers=_ops(issuer))
    assert body.status_code == 200
    exported = json.loads(body.data)
    assert exported["procedure_code"] == "modello-d3"
    assert [a["protocol_number"] for a in exported["applications"]] == [f"{n:07d}" for n in range(1, 8)]
    counts = client.get("/api/istanze/v1/ops/procedures/modello-d3/counts", headers=_ops(issuer)).get_json()
    assert counts["counts"] == {"bozza": 2, "inoltrata": 7, "annullata": 1}


@pytest.mark.parametrize("path", ["applications.csv", "applications.json", "counts"])
def test_the_exports_need_the_ops_role_and_a_known_procedure(
    client: FlaskClient, issuer: TestIssuer, path: str
) -> None:
    _procedure()
    user = {"Authorization": f"Bearer {issuer.token(audience=AUDIENCE)}"}
    assert client.get(f"/api/istanze/v1/ops/procedures/modello-d3/{path}", headers=user).status_code == 403
    missing = client.get(f"/api/istanze/v1/ops/procedures/sconosciuta/{path}", headers=_ops(issuer))
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "not_found"
