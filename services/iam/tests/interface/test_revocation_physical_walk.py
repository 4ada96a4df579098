"""The execution's walk of the accounts table in its physical order on PostgreSQL (D-REV-3, D-REV-4): an
affected account whose row moves behind the walk (a failed login writes a new row version, and it can land
in a page the walk has passed) is revoked by the sweep after the walk, once; a round that was executing
before the walk existed (migration 0012) starts it and revokes everyone once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from iam.accounts.models import Account
from iam.audit.models import AuditEntry
from iam.extensions import db
from iam.revocation import clock, service
from iam.revocation.models import RevocationRound
from sqlalchemy import func, select, text, update
from test_revocation_rounds import OPS, ROUNDS, add_account, create, events, state_of, work_until_idle

OLD = datetime(2014, 1, 1, tzinfo=UTC)
USED = datetime(2016, 1, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _postgresql_only(database_kind: str) -> None:
    if database_kind != "postgresql":
        pytest.skip("the physical walk is PostgreSQL's (SQLite walks in id order)")


def _past_the_deadline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock, "_offset_file", tmp_path / "clock")
    clock.set_offset(tmp_path / "clock", timedelta(days=41).total_seconds())


def _announced(client: FlaskClient) -> str:
    round_id = create(client).get_json()["id"]
    client.post(f"{ROUNDS}/{round_id}/announce", headers=OPS)
    assert work_until_idle(batch_size=500)[-1].kind == "notice"
    return str(round_id)


def _position(account_id: uuid.UUID) -> tuple[int, int]:
    """Where the account's row (its live version) is in the table: (block, line)."""
    with db.transaction() as session:
        tid = session.scalar(text("SELECT ctid::text FROM accounts WHERE id = :id"), {"id": account_id})
    block, line = str(tid).strip("()").split(",")
    return int(block), int(line)


def _walk_position(round_id: str) -> tuple[int, int]:
    with db.transaction() as session:
        position = session.scalar(
            select(RevocationRound.execute_position).where(RevocationRound.id == uuid.UUID(round_id))
        )
    block, line = str(position).strip("()").split(",")
    return int(block), int(line)


def _revoked_once(round_id: str, client: FlaskClient, everyone: list[uuid.UUID]) -> None:
    """Each account revoked, with one event and one audit entry each, and the round's count exact."""
    assert {state_of(i) for i in everyone} == {"revoked"}
    published = sorted(e["data"]["account_id"] for e in events("iam.account_revoked"))
    assert published == sorted(str(i) for i in everyone)
    with db.transaction() as session:
        audited = session.scalars(select(AuditEntry.account_id).where(AuditEntry.action == "account.revoked"))
        assert sorted(str(i) for i in audited) == published
        versions = session.scalars(select(Account.credentials_version).where(Account.state == "revoked"))
        assert set(versions) == {2}
    body = client.get(f"{ROUNDS}/{round_id}", headers=OPS).get_json()
    assert body["state"] == "done" and body["counts"]["revoked"] == len(everyone)


def test_d_rev_4_an_account_whose_row_moved_behind_the_walk_is_revoked_by_the_sweep_once(
    client: FlaskClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    early = [add_account(last_access_at=OLD) for _ in range(8)]  # the table's first rows
    fillers = [add_account(last_access_at=USED) for _ in range(60)]  # full pages, not affected
    mover = add_account(last_access_at=OLD)
    fillers += [add_account(last_access_at=USED) for _ in range(60)]
    late = [add_account(last_access_at=OLD) for _ in range(4)]
    round_id = _announced(client)
    _past_the_deadline(tmp_path, monkeypatch)
    assert service.work_once(db=db, batch_size=4).kind == "started"
    assert [service.work_once(db=db, batch_size=4).count for _ in range(2)] == [4, 4]  # the early ones
    walked_to = _walk_position(round_id)
    assert _position(mover) > walked_to  # not reached yet
    # The space of the early rows' old versions is free again; a failed login of the mover writes its
    # row's new version there, behind the walk (its own page is full).
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM accounts"))
    with db.transaction() as session:
        session.execute(
            update(Account).where(Account.id == mover).values(failed_logins=Account.failed_logins + 1)
        )
    assert _position(mover) < walked_to

    steps = work_until_idle(batch_size=4)

    assert steps[-1].kind == "done"
    _revoked_once(round_id, client, [*early, mover, *late])
    assert {state_of(i) for i in fillers} == {"active"}


def test_d_rev_4_a_round_executing_before_the_walk_existed_starts_it_and_revokes_everyone_once(
    client: FlaskClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    everyone = [add_account(last_access_at=OLD) for _ in range(7)]
    add_account(last_access_at=USED)
    round_id = _announced(client)
    _past_the_deadline(tmp_path, monkeypatch)
    assert service.work_once(db=db, batch_size=2).kind == "started"
    assert service.work_once(db=db, batch_size=2).count == 2
    with db.transaction() as session:  # as 0012 leaves a round that was executing: no walk yet
        session.execute(
            update(RevocationRound)
            .where(RevocationRound.id == uuid.UUID(round_id))
            .values(execute_position=None, execute_walk_end=None)
        )

    steps = work_until_idle(batch_size=2)

    assert steps[-1].kind == "done" and sum(s.count for s in steps[:-1]) == 5
    _revoked_once(round_id, client, everyone)
    with db.transaction() as session:
        assert (
            session.scalar(
                select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "account.revoked")
            )
            == 7
        )
