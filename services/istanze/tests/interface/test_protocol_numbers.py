"""D-IST-3 / D-IST-6 (DPR 445/2000 art. 57): protocol numbers progressive per calendar year, at least seven
digits, no gaps, never reused; a rolled-back submission leaves no gap; the year turns at midnight in Italy."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from istanze.protocol.service import last_number, next_number
from polis.db import Database
from polis.migrations import upgrade
from polis.testing.postgres import PostgresCluster

ALEMBIC_INI = str(Path(__file__).parents[2] / "alembic.ini")

AT = datetime(2027, 6, 1, 10, 0, tzinfo=UTC)


def _database(url: str) -> Database:
    upgrade(ALEMBIC_INI, url)
    return Database(url)


def test_d_ist_6_numbers_are_consecutive_seven_digits_and_a_rollback_leaves_no_gap(database_url: str) -> None:
    db = _database(database_url)
    with db.transaction() as session:
        first = next_number(session, at=AT)
    with pytest.raises(RuntimeError), db.transaction() as session:
        next_number(session, at=AT)  # the submission fails after taking a number
        raise RuntimeError("receipt could not be rendered")
    with db.transaction() as session:
        second = next_number(session, at=AT)
        assert last_number(session, year=2027) == 2
    assert (first.number, second.number) == (1, 2)
    assert (first.text, second.text) == ("0000001", "0000002")
    db.dispose()


def test_d_ist_6_the_year_rolls_over_at_midnight_italian_time(database_url: str) -> None:
    db = _database(database_url)
    with db.transaction() as session:
        next_number(session, at=AT)
        # 31 Dec 2027 23:59:59 in Rome (CET, UTC+1) is still 2027; one second later is 2028.
        late = next_number(session, at=datetime(2027, 12, 31, 22, 59, 59, tzinfo=UTC))
        new = next_number(session, at=datetime(2027, 12, 31, 23, 0, 0, tzinfo=UTC))
    assert (late.year, late.number) == (2027, 2)
    assert (new.year, new.number, new.text) == (2028, 1, "0000001")
    assert new.segnatura(administration="m_pi", aoo="AOODGPER") == (
        "m_pi.AOODGPER.REGISTRO UFFICIALE.U.0000001.01/01/2028"
    )
    db.dispose()


CHILD = textwrap.dedent(
    """
    import json, sys, threading
    from datetime import UTC, datetime
    from polis.db import Database
    from istanze.protocol.service import next_number

    url, count, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    db = Database(url, pool_size=threads, max_overflow=0)
    start = threading.Barrier(threads)
    committed, lock = [], threading.Lock()
    jobs = list(range(count))

    def submit(job):
        try:
            with db.transaction() as session:
                number = next_number(session, at=datetime.now(UTC)).number
                if job % 10 == 3:
                    raise RuntimeError("rolled back")  # a submission that fails after taking a number
            with lock:
                committed.append(number)
        except RuntimeError:
            pass

    def worker():
        start.wait()
        while True:
            with lock:
                if not jobs:
                    return
                job = jobs.pop()
            submit(job)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool: t.start()
    for t in pool: t.join()
    print(json.dumps(committed))
    """
)


@pytest.mark.slow
def test_d_ist_6_two_processes_and_200_concurrent_submissions_get_unique_consecutive_numbers(
    postgres: PostgresCluster,
) -> None:
    url = postgres.create_database()
    try:
        _database(url).dispose()
        children = [
            subprocess.Popen(
                [sys.executable, "-c", CHILD, url, "100", "10"], stdout=subprocess.PIPE, text=True
            )
            for _ in range(2)
        ]
        outputs = [child.communicate(timeout=120)[0] for child in children]
        assert [child.returncode for child in children] == [0, 0]
        numbers = [n for out in outputs for n in json.loads(out)]
        # 200 submissions, 20 of them rolled back after taking a number: 180 numbers, 1..180, none lost.
        assert len(numbers) == 180
        assert sorted(numbers) == list(range(1, 181))
        db = Database(url)
        with db.transaction() as session:
            assert last_number(session, year=datetime.now(ZoneInfo("Europe/Rome")).year) == 180
        db.dispose()
    finally:
        postgres.drop_database(url.rsplit("/", 1)[1])
