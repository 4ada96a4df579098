"""D-REV-2 at the execution: when the deadline comes before the announcement has told everyone, only the
accounts told are revoked (the batch's statement reads the announcement's cursor itself on PostgreSQL)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from iam.extensions import db
from iam.revocation import clock, service
from oidc_helpers import make_app
from test_revocation_rounds import OPS, ROUNDS, add_account, create, events, state_of, work_until_idle

OLD = datetime(2014, 1, 1, tzinfo=UTC)


@pytest.fixture
def clock_file(tmp_path: Path) -> Path:
    return tmp_path / "clock"


@pytest.fixture
def client(database_url: str, clock_file: Path) -> Iterator[FlaskClient]:
    for app in make_app(database_url, REVOCATION_CLOCK_FILE=str(clock_file)):
        yield app.test_client()


def _affected(count: int) -> list[uuid.UUID]:
    return [add_account(last_access_at=OLD) for _ in range(count)]


def test_d_rev_2_the_deadline_before_the_announcement_finished_revokes_only_those_told(
    client: FlaskClient, clock_file: Path
) -> None:
    everyone = _affected(7)
    round_id = create(client).get_json()["id"]
    client.post(f"{ROUNDS}/{round_id}/announce", headers=OPS)
    assert [service.work_once(db=db, batch_size=2).count for _ in range(2)] == [2, 2]  # 4 of 7 told
    clock.set_offset(clock_file, timedelta(days=41).total_seconds())

    steps = work_until_idle(batch_size=3)

    told = {uuid.UUID(e["data"]["account_id"]) for e in events("iam.revocation_announced")}
    assert len(told) == 4
    assert [s.kind for s in steps] == ["started", "revoked", "revoked", "done"]
    assert {i: state_of(i) for i in everyone} == {i: "revoked" if i in told else "active" for i in everyone}
    assert {uuid.UUID(e["data"]["account_id"]) for e in events("iam.account_revoked")} == told
    assert client.get(f"{ROUNDS}/{round_id}", headers=OPS).get_json()["counts"]["revoked"] == 4


def test_d_rev_2_the_deadline_before_the_first_announcement_batch_revokes_nobody(
    client: FlaskClient, clock_file: Path
) -> None:
    everyone = _affected(3)
    round_id = create(client).get_json()["id"]
    client.post(f"{ROUNDS}/{round_id}/announce", headers=OPS)
    clock.set_offset(clock_file, timedelta(days=41).total_seconds())

    steps = work_until_idle(batch_size=2)

    assert [s.kind for s in steps] == ["started", "done"]
    assert {state_of(i) for i in everyone} == {"active"}
    assert events("iam.account_revoked") == []
    assert client.get(f"{ROUNDS}/{round_id}", headers=OPS).get_json()["counts"]["revoked"] == 0
