"""P5: a revocation round over N accounts on PostgreSQL (issue 16; default 2,000,000, half affected).

Accounts are loaded with COPY, last accesses spread evenly over 2010-2026 (a 2018 cut-off affects half).
Each figure stands next to bare SQL of the same work in the same run, measured right before it (the shared
machine's load drifts): the preview next to a `SELECT count(*)` with the same predicate; the announcement
(iam.revocation_announced rows into the outbox, batch by batch, through the service) next to one
`INSERT ... SELECT` of as many outbox rows; the execution (state, sessions, iam.account_revoked and an audit
entry per account) next to an `UPDATE` of the same rows to the same state, timed BARE_UPDATES times (one
before the announcement, the others right before the execution) and taken at its median: one timing of
one statement moves with the shared machine far more than the service's thousand batches. Every baseline
is rolled back and its table vacuumed (untimed) before the next step, so each `UPDATE` and the service
start from the same rows and the same indexes. The announcement and the execution run in a child process
(`python p5_revocation.py --worker URL ...`), whose peak memory is the worker's figure. The bench's own
PostgreSQL gets a production-sized cache (SERVER_SETTINGS), the same for the service and the baselines.
`P5_PYSPY=out.txt` runs the child under py-spy (collapsed stacks, idle time included).
Goals: preview < 10 s, execution < 120 s, worker memory < 300 MB, each within 3x the bare SQL."""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from bench_common import Result

ROOT = Path(__file__).resolve().parents[2]
IAM = ROOT / "services" / "iam"
CUTOFF = date(2018, 1, 1)
START, SPAN_DAYS = datetime(2010, 1, 1, tzinfo=UTC), 16 * 365
PREDICATE = (
    "kind = 'ordinary' AND state IN ('active', 'must_change_password') AND created_at < %(cut)s "
    "AND coalesce(last_access_at, activated_at) < %(cut)s"
)


# The test cluster's 32 MB of shared buffers would make two million accounts (about 1 GB of table and
# indexes) a benchmark of the disk cache: P5 gives its server a cache sized like a production one.
SERVER_SETTINGS = {"shared_buffers": "1536MB"}


def production_sized(pg: Any) -> None:
    """ALTER SYSTEM the settings above and restart the bench's own cluster with them."""
    import psycopg

    with psycopg.connect(_raw(pg.url()), autocommit=True) as conn:
        for name, value in SERVER_SETTINGS.items():
            conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")  # constants
    pg.stop()
    pg.start()


def _raw(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def load_accounts(url: str, count: int) -> None:
    """COPY `count` ordinary accounts, created in 2009, last access spread over 2010-2026."""
    import psycopg

    created = datetime(2009, 1, 1, tzinfo=UTC)
    columns = (
        "id, username, kind, state, roles, codice_fiscale, first_name, last_name, personal_email, language, "
        "credentials_version, failed_logins, created_at, activated_at, last_access_at"
    )
    with psycopg.connect(_raw(url)) as conn, conn.cursor() as cursor:
        with cursor.copy(f"COPY accounts ({columns}) FROM STDIN") as copy:
            for n in range(count):
                last = START + timedelta(seconds=(n * 7919 % count) * SPAN_DAYS * 86400 // count)
                copy.write_row(
                    (
                        uuid.uuid4(),
                        f"utente.{n}",
                        "ordinary",
                        "active",
                        "[]",
                        f"CF{n:014d}",
                        "Anna",
                        "Verdi",
                        f"u{n}@example.org",
                        "it",
                        1,
                        0,
                        created,
                        created,
                        last,
                    )
                )
        conn.commit()
        cursor.execute("ANALYZE accounts")
        conn.commit()


def _bare(
    url: str, cutoff_at: datetime, sql: str, *, rollback_and_vacuum: str | None = None
) -> tuple[float, Any]:
    """One statement of bare SQL, timed; rolled back (and the table vacuumed, untimed) when it writes, so
    the service's run after it starts from the same table."""
    import psycopg

    with psycopg.connect(_raw(url)) as conn, conn.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute(sql, {"cut": cutoff_at})
        elapsed = time.perf_counter() - started
        result = cursor.fetchone() if cursor.description else None
        conn.rollback()
    if rollback_and_vacuum:
        with psycopg.connect(_raw(url), autocommit=True) as conn:
            conn.execute(f"VACUUM {rollback_and_vacuum}")
    return elapsed, result


def bare_count(url: str, cutoff_at: datetime) -> tuple[float, int]:
    elapsed, row = _bare(url, cutoff_at, f"SELECT count(*) FROM accounts WHERE {PREDICATE}")  # noqa: S608
    return elapsed, int(row[0])


def bare_insert(url: str, cutoff_at: datetime) -> float:
    """The announcement's rows in one INSERT ... SELECT (a payload like the event's), rolled back."""
    sql = (
        "INSERT INTO outbox (event_id, event_type, payload, created_at, attempts) "  # noqa: S608 - constant
        "SELECT gen_random_uuid(), 'iam.revocation_announced', "
        "json_build_object('account_id', id, 'cutoff', %(cut)s)::text, now(), 0 "
        f"FROM accounts WHERE {PREDICATE}"
    )
    return _bare(url, cutoff_at, sql, rollback_and_vacuum="outbox")[0]


BARE_UPDATES = 3


def bare_update(url: str, cutoff_at: datetime) -> float:
    """The execution's revocations in one UPDATE of the same rows to the state the service leaves them in
    (the same columns: state, revoked_at, credentials_version), rolled back and vacuumed."""
    sql = (
        "UPDATE accounts SET state = 'revoked', revoked_at = now(), "  # noqa: S608 - constant
        f"credentials_version = credentials_version + 1 WHERE {PREDICATE}"
    )
    return _bare(url, cutoff_at, sql, rollback_and_vacuum="accounts")[0]


def spread(timings: list[float]) -> str:
    """The baseline's timings as reported next to its median."""
    return "/".join(f"{value:.1f}" for value in timings) + " s"


def worker(url: str, round_id: str, clock_file: str, batch_size: int) -> None:
    """The child: each phase right after its bare SQL (the shared machine's load drifts): the outbox
    insert, the announcement to the end; the deadline passes; the update, the execution to the end."""
    from iam.revocation import clock, service
    from polis.db import Database

    clock.configure({"REVOCATION_CLOCK_FILE": clock_file})
    cutoff_at = service.cutoff_instant(CUTOFF)
    database = Database(url)
    times: dict[str, Any] = {"bare_insert_s": bare_insert(url, cutoff_at)}
    updates = [bare_update(url, cutoff_at)]
    started = time.perf_counter()
    while service.work_once(db=database, batch_size=batch_size).kind == "notice":
        pass
    times["announce_s"] = time.perf_counter() - started
    clock.set_offset(clock_file, timedelta(days=60).total_seconds())
    updates += [bare_update(url, cutoff_at) for _ in range(BARE_UPDATES - 1)]
    times["bare_updates_s"] = updates
    times["bare_update_s"] = statistics.median(updates)
    started = time.perf_counter()
    while (step := service.work_once(db=database, batch_size=batch_size)).kind != "done":
        assert step.kind in ("started", "revoked"), step
    times["execute_s"] = time.perf_counter() - started
    times["revoked"] = step.count
    times["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(times))


def bench_revocation(work: Path, *, count: int, batch_size: int, pg: Any) -> list[Result]:
    from iam.audit.service import Origin
    from iam.revocation import service
    from polis.db import Database
    from polis.migrations import upgrade

    production_sized(pg)
    url = pg.create_database(f"bench_iam_p5_{os.getpid()}")
    upgrade(str(IAM / "alembic.ini"), url)
    started = time.perf_counter()
    load_accounts(url, count)
    load_s = time.perf_counter() - started
    cutoff_at = service.cutoff_instant(CUTOFF)

    database = Database(url)
    origin = Origin(source_address="bench", user_agent="p5")
    view = service.create_round(
        db=database,
        cutoff=CUTOFF,
        deadline=datetime.now(UTC) + timedelta(days=40),
        reminder_days=[30, 7, 1],
        actor="bench",
        origin=origin,
    )
    bare_count_s, bare_affected = bare_count(url, cutoff_at)
    started = time.perf_counter()
    preview = service.preview_round(
        db=database, round_id=view.id, sample_size=20, actor="bench", origin=origin
    )
    preview_s = time.perf_counter() - started
    service.announce_round(db=database, round_id=view.id, actor="bench", origin=origin)
    database.dispose()

    command = [
        sys.executable,
        __file__,
        "--worker",
        url,
        str(view.id),
        str(work / "p5-clock"),
        str(batch_size),
    ]
    profile = os.environ.get("P5_PYSPY")
    if (
        profile
    ):  # P5_PYSPY=out.txt: the worker under py-spy (sampled with idle time: the waits on the database)
        spy = Path(sys.executable).with_name("py-spy")
        command = [
            str(spy),
            "record",
            "--idle",
            "--format",
            "raw",
            "--rate",
            "50",
            "-o",
            profile,
            "--",
            *command,
        ]
    child = subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "POLIS_ENV": "test"},
    )
    if child.returncode != 0:
        raise SystemExit(f"P5 worker failed:\n{child.stdout[-2000:]}\n{child.stderr[-4000:]}")
    figures = json.loads([line for line in child.stdout.splitlines() if line.startswith("{")][-1])
    affected = preview.affected
    assert affected == bare_affected == figures["revoked"], (affected, bare_affected, figures)
    detail = (
        f"{count:,} accounts, {affected:,} affected, batches of {batch_size}; COPY load {load_s:.1f} s; "
        + ", ".join(f"{name} {value}" for name, value in SERVER_SETTINGS.items())
    )
    return [
        Result(
            "P5 preview (ms, lower is better)",
            preview_s * 1000,
            "ms",
            "SELECT count(*)",
            bare_count_s * 1000,
            "< 10 s and <= 3x bare",
            detail,
        ),
        Result(
            "P5 announce into the outbox (ms)",
            figures["announce_s"] * 1000,
            "ms",
            "INSERT ... SELECT",
            figures["bare_insert_s"] * 1000,
            "<= 3x bare (the notifier's rate paces the real sending)",
            detail,
        ),
        Result(
            "P5 execution (ms)",
            figures["execute_s"] * 1000,
            "ms",
            f"UPDATE of the same rows, median of {BARE_UPDATES}",
            figures["bare_update_s"] * 1000,
            "< 120 s and <= 3x bare",
            f"{detail}; bare UPDATE {spread(figures['bare_updates_s'])} (before the announcement, then "
            "right before the execution)",
        ),
        Result(
            "P5 worker peak memory (MB)",
            figures["peak_rss_mb"],
            "MB",
            "goal",
            300.0,
            "< 300 MB",
            detail,
        ),
    ]


if __name__ == "__main__" and len(sys.argv) == 6 and sys.argv[1] == "--worker":
    worker(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
