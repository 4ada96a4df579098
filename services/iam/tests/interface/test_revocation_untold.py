"""D-REV-2 at the execution: when the deadline comes before the announcement has told everyone, only the
accounts told are revoked (the batch's statement reads the announcement's cursor itself on PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from iam.extensions import db
from iam.revocation import clock, service
from test_revocation_rounds import OPS, ROUNDS, add_account, create, events, state_of, work_until_idle


def _announced(client: FlaskClient, affected: int, told_batches: int) -> tuple[str, list[uuid.UUID]]:
    """A round over `affected` accounts announced, its announcement stopped after `told_batches` of 2."""
    everyone = [add_account(last_access_at=datetime(2014, 1, 1, tzinfo=UTC)) for _ in range(affected)]
    round_id = create(client).get_json()["id"]
    client.post(f"{ROUNDS}/{round_id}/announce", headers=OPS)
    assert [service.work_once(db=db, batch_size=2).count for _ in range(told_batches)] == [2] * told_batches
    return round_id, everyone


def _past_the_deadline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker's clock 41 days ahead: past the deadline create() gives (40 days)."""
    monkeypatch.setattr(clock, "_offset_file", tmp_path / "clock")
    clock.set_offset(tmp_path / "clock", timedelta(days=41).total_seconds())


def test_d_rev_2_the_deadline_before_the_announcement_finished_revokes_only_those_told(
    client: FlaskClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    round_id, everyone = _announced(client, affected=7, told_batches=2)
    _past_the_deadline(tmp_path, monkeypatch)

    steps = work_until_idle(batch_size=3)

    told = {uuid.UUID(e["data"]["account_id"]) for e in events("iam.revocation_announced")}
    assert len(told) == 4
    assert [s.kind for s in steps] == ["started", "revoked", "revoked", "done"]
    assert {i: state_of(i) for i in everyone} == {i: "revoked" if i in told else "active" for i in everyone}
    assert {uuid.UUID(e["data"]["account_id"]) for e in events("iam.account_revoked")} == told
    assert client.get(f"{ROUNDS}/{round_id}", headers=OPS).get_json()["counts"]["revoked"] == 4


def test_d_rev_2_the_deadline_before_the_first_announcement_batch_revokes_nobody(
    client: FlaskClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    round_id, everyone = _announced(client, affected=3, told_batches=0)
    _past_the_deadline(tmp_path, monkeypatch)

    assert [s.kind for s in work_until_idle(batch_size=2)] == ["started", "done"]
    assert {state_of(i) for i in everyone} == {"active"}
    assert events("iam.account_revoked") == []
    assert client.get(f"{ROUNDS}/{round_id}", headers=OPS).get_json()["counts"]["revoked"] == 0
