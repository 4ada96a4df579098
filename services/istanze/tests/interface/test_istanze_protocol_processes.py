"""D-IST-3 / D-IST-6 (DPR 445/2000 art. 57) under real load: two istanze web processes (gunicorn) on one
PostgreSQL database take 200 concurrent submissions through the HTTP API, the personal code checked over a
real RabbitMQ (a stand-in responder for enablement's worker). 20 of them fail after their number was taken
(the database refuses their receipt: a trigger of this test), so they roll back. Every committed number is
unique and the numbers are exactly 1..180: none lost, none given twice; the failed ones stay drafts.
And a web process killed -9 between a submission's two transactions: the istanze worker's receipt sweep
files the receipt, once."""

from __future__ import annotations

import json
import os
import sys
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from istanze.applications.models import Application, StaffProfile
from istanze.protocol.service import last_number
from istanze_backend_support import publish_procedure
from polis.db import Database
from polis.migrations import upgrade
from polis.rpc import RpcResponder, queue_name
from polis.testing import free_port
from polis.testing.helpers import Threads, wait_until
from polis.testing.postgres import PostgresCluster
from polis.testing.processes import ManagedProcess
from polis.testing.rabbitmq import RabbitMQNode, delete_queue
from polis.testing.tokens import TestIssuer
from sqlalchemy import insert, select, text

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("rabbitmq_running")]

SERVICE_DIR = Path(__file__).parents[2]
GUNICORN = Path(sys.executable).parent / "gunicorn"
SUBMISSIONS, FAILING, CONCURRENCY = 200, 20, 40
FORM = {"sections": [{"id": "sedi", "fields": [{"name": "dpr445", "type": "declaration", "required": True}]}]}
FAIL_RECEIPTS = (
    "CREATE TABLE test_fail_accounts (account_id uuid PRIMARY KEY)",
    """CREATE FUNCTION test_fail_receipt() RETURNS trigger AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM test_fail_accounts WHERE account_id = NEW.account_id) THEN
    RAISE EXCEPTION 'receipt refused by the test';
  END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql""",
    "CREATE TRIGGER test_fail_receipt BEFORE INSERT ON receipts"
    " FOR EACH ROW EXECUTE FUNCTION test_fail_receipt()",
)


@pytest.fixture
def jwks_url(issuer: TestIssuer) -> Iterator[str]:
    """IAM's JWKS endpoint, as the processes fetch it."""
    body = json.dumps(issuer.jwks()).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/jwks"
    server.shutdown()


@pytest.fixture
def enablement(rabbitmq: RabbitMQNode) -> Iterator[None]:
    """Stands in for enablement's worker: every personal code "Codice-1" is ok."""
    delete_queue(rabbitmq.url, queue_name("enablement"))
    threads = Threads()
    responders = [
        RpcResponder(
            rabbitmq.url,
            service="enablement",
            handlers={
                "enablement.check_personal_code": lambda p: (
                    {"valid": True, "status": "ok"}
                    if p["personal_code"] == "Codice-1"
                    else {"valid": False, "status": "wrong"}
                )
            },
            heartbeat=5,
        )
        for _ in range(2)
    ]
    for responder in responders:
        threads.start(lambda r=responder: r.run(threads.stop_event))
    for responder in responders:
        wait_until(responder.ready.is_set)
    yield
    threads.stop()


def _prepare(url: str) -> tuple[list[uuid.UUID], set[uuid.UUID]]:
    upgrade(str(SERVICE_DIR / "alembic.ini"), url)
    database = Database(url)
    rome = datetime.now(ZoneInfo("Europe/Rome")).replace(tzinfo=None, minute=0, second=0, microsecond=0)
    accounts = [uuid.uuid4() for _ in range(SUBMISSIONS)]
    failing = set(accounts[3::10][:FAILING])
    now = datetime.now(UTC)
    with database.transaction() as session:
        publish_procedure(
            session,
            code="modello-d3",
            opens_local=rome.replace(hour=14) - timedelta(days=2),
            closes_local=rome.replace(hour=14) + timedelta(days=2),
            form=FORM,
        )
        session.execute(
            insert(StaffProfile),
            [{"account_id": a, "staff_category": "ata", "updated_at": now} for a in accounts],
        )
        session.execute(
            insert(Application),
            [
                {
                    "id": uuid.uuid4(),
                    "account_id": a,
                    "procedure_code": "modello-d3",
                    "state": "bozza",
                    "answers": {"sedi": {"dpr445": True}},
                    "created_at": now,
                    "updated_at": now,
                }
                for a in accounts
            ],
        )
        for statement in FAIL_RECEIPTS:
            session.execute(text(statement))
        for account in failing:
            session.execute(text("INSERT INTO test_fail_accounts VALUES (:a)"), {"a": account})
    database.dispose()
    return accounts, failing


def _start(url: str, port: int, *, broker: str, issuer: TestIssuer, jwks: str, log: Path) -> ManagedProcess:
    env = {
        **os.environ,
        "POLIS_ENV": "test",
        "ISTANZE_DATABASE_URL": url,
        "POLIS_BROKER_URL": broker,
        "POLIS_OIDC_ISSUER": issuer.issuer,
        "POLIS_OIDC_JWKS_URL": jwks,
        "ISTANZE_BIND": f"127.0.0.1:{port}",
        "ISTANZE_WORKERS": "1",
        "ISTANZE_THREADS": "8",
        "ISTANZE_TIMEOUT": "120",
        "ISTANZE_RPC_TIMEOUT": "60",
    }
    # Its own process group (gunicorn's master and worker), stopped or killed as one.
    return ManagedProcess(
        "istanze-web", [str(GUNICORN), "-c", "gunicorn.conf.py"], cwd=SERVICE_DIR, env=env, log_path=log
    ).start()


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _submit(port: int, token: str) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/istanze/v1/applications/modello-d3/submission",
        data=json.dumps({"personal_code": "Codice-1", "key": uuid.uuid4().hex}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=300) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def test_d_ist_6_two_gunicorn_processes_200_concurrent_submissions_unique_consecutive_numbers(
    postgres: PostgresCluster,
    rabbitmq: RabbitMQNode,
    issuer: TestIssuer,
    jwks_url: str,
    enablement: None,
    tmp_path: Path,
) -> None:
    url = postgres.create_database()
    processes: list[ManagedProcess] = []
    try:
        accounts, failing = _prepare(url)
        ports = [free_port(), free_port()]
        processes = [
            _start(
                url,
                port,
                broker=rabbitmq.url,
                issuer=issuer,
                jwks=jwks_url,
                log=tmp_path / f"istanze-{port}.log",
            )
            for port in ports
        ]
        wait_until(lambda: all(_ready(p) for p in ports), timeout=90)
        tokens = {a: issuer.token(audience="urn:polis:istanze", sub=str(a)) for a in accounts}
        barrier = threading.Barrier(CONCURRENCY)

        def one(index: int) -> tuple[uuid.UUID, int, dict[str, Any]]:
            account = accounts[index]
            if index < CONCURRENCY:
                barrier.wait()  # the first wave leaves together
            status, body = _submit(ports[index % 2], tokens[account])
            return account, status, body

        with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
            results = list(pool.map(one, range(SUBMISSIONS)))

        ok = {a: body for a, status, body in results if status == 200}
        refused = {a: status for a, status, _ in results if status != 200}
        logs = "".join((tmp_path / f"istanze-{p}.log").read_text(errors="replace")[-2000:] for p in ports)
        assert set(refused) == failing, (refused, logs)
        assert set(refused.values()) == {500}
        numbers = sorted(int(body["protocol_number"]) for body in ok.values())
        assert numbers == list(range(1, SUBMISSIONS - FAILING + 1))  # unique, consecutive, none lost
        assert len({body["segnatura"] for body in ok.values()}) == SUBMISSIONS - FAILING
        database = Database(url)
        with database.transaction() as session:
            year = datetime.now(ZoneInfo("Europe/Rome")).year
            assert last_number(session, year=year) == SUBMISSIONS - FAILING
            states = dict(session.execute(select(Application.account_id, Application.state)).all())
            assert {states[a] for a in failing} == {"bozza"}  # rolled back whole: still drafts
            receipts = session.execute(text("SELECT count(DISTINCT protocol_number) FROM receipts")).scalar()
            assert receipts == SUBMISSIONS - FAILING
        database.dispose()
    finally:
        for process in processes:
            process.stop()
        postgres.drop_database(url.rsplit("/", 1)[1])


# The filing of a receipt (the submission's second transaction) waits on an advisory lock the test holds:
# the web process is then killed -9 with the number committed and the receipt not yet filed.
HOLD_FILING = (
    """CREATE FUNCTION test_hold_filing() RETURNS trigger AS $$
BEGIN
  PERFORM pg_advisory_xact_lock(4242);
  RETURN NEW;
END $$ LANGUAGE plpgsql""",
    "CREATE TRIGGER test_hold_filing BEFORE UPDATE ON receipts"
    " FOR EACH ROW WHEN (NEW.sha256 IS NOT NULL) EXECUTE FUNCTION test_hold_filing()",
)
WAITING_ON_THE_HOLD = (
    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND wait_event = 'advisory'"
    " AND datname = current_database()"
)


def _worker(url: str, *, broker: str, log: Path) -> ManagedProcess:
    env = {
        **os.environ,
        "POLIS_ENV": "test",
        "ISTANZE_DATABASE_URL": url,
        "POLIS_BROKER_URL": broker,
        "ISTANZE_RECEIPT_SWEEP_INTERVAL": "0.2",
        "ISTANZE_RECEIPT_SWEEP_AFTER": "1",
    }
    return ManagedProcess(
        "istanze-worker", [sys.executable, "-m", "istanze.worker"], cwd=SERVICE_DIR, env=env, log_path=log
    ).start()


def test_d_ist_3_web_process_killed_between_registration_and_filing_the_workers_sweep_files_it_once(
    postgres: PostgresCluster,
    rabbitmq: RabbitMQNode,
    issuer: TestIssuer,
    jwks_url: str,
    enablement: None,
    tmp_path: Path,
) -> None:
    """Issue 15 P6: the number is committed (state "protocollata"), the process dies (kill -9) before the
    receipt is filed; the istanze worker's receipt sweep files it: one receipt with its fingerprint, the
    same number, one istanze.istanza_submitted event relayed to the broker, no number taken twice."""
    url = postgres.create_database()
    processes: list[ManagedProcess] = []
    database = Database(url)
    try:
        accounts, failing = _prepare(url)
        account = accounts[0]
        assert account not in failing
        with database.transaction() as session:
            for statement in HOLD_FILING:
                session.execute(text(statement))
        holder = database.engine.connect()
        holder.execute(text("SELECT pg_advisory_lock(4242)"))
        holder.commit()

        port = free_port()
        web = _start(url, port, broker=rabbitmq.url, issuer=issuer, jwks=jwks_url, log=tmp_path / "web.log")
        processes.append(web)
        wait_until(lambda: _ready(port), timeout=90)
        token = issuer.token(audience="urn:polis:istanze", sub=str(account))
        answers: list[Any] = []
        request = threading.Thread(target=lambda: answers.append(_try_submit(port, token)), daemon=True)
        request.start()

        def waiting() -> bool:
            with database.engine.connect() as connection:
                return bool(connection.execute(text(WAITING_ON_THE_HOLD)).scalar())

        wait_until(waiting, timeout=60)
        with database.transaction() as session:
            state, number = session.execute(
                select(Application.state, Application.protocol_number).where(
                    Application.account_id == account
                )
            ).one()
        assert (state, number) == ("protocollata", 1)  # the first transaction is committed

        web.kill()  # SIGKILL to the whole web process group, master and worker
        # The filing is one statement outside a transaction: PostgreSQL would finish (and commit) it once
        # the hold is released, client gone or not. Its backend is ended too, as if the process had died
        # before sending it: the filing never happens and the sweep must do it.
        with database.engine.connect() as connection:
            connection.execute(text(WAITING_ON_THE_HOLD.replace("count(*)", "pg_terminate_backend(pid)")))
        holder.execute(text("SELECT pg_advisory_unlock(4242)"))
        holder.commit()
        holder.close()
        request.join(timeout=60)
        assert answers and isinstance(answers[0], OSError)  # the user's request died with the process
        wait_until(lambda: not waiting(), timeout=30)

        def filing() -> tuple[Any, ...]:
            with database.transaction() as session:
                return tuple(
                    session.execute(
                        text(
                            "SELECT a.state, a.protocol_number, r.sha256 IS NOT NULL, r.size"
                            " FROM applications a JOIN receipts r ON r.application_id = a.id"
                            " WHERE a.account_id = :a"
                        ),
                        {"a": account},
                    ).one()
                )

        assert filing()[:3] == ("protocollata", 1, False)  # the filing rolled back with its connection
        worker = _worker(url, broker=rabbitmq.url, log=tmp_path / "worker.log")
        processes.append(worker)
        wait_until(lambda: filing()[:3] == ("inoltrata", 1, True), timeout=90)

        def relayed() -> list[Any]:
            with database.transaction() as session:
                return list(
                    session.execute(
                        text("SELECT sent_at FROM outbox WHERE event_type = 'istanze.istanza_submitted'")
                    ).scalars()
                )

        wait_until(lambda: any(sent is not None for sent in relayed()), timeout=60)
        assert len(relayed()) == 1  # one event: one email
        with database.transaction() as session:
            assert session.execute(text("SELECT count(*) FROM receipts")).scalar() == 1
            assert last_number(session, year=datetime.now(ZoneInfo("Europe/Rome")).year) == 1
    finally:
        for process in processes:
            process.stop()
        database.dispose()
        postgres.drop_database(url.rsplit("/", 1)[1])


def _try_submit(port: int, token: str) -> Any:
    try:
        return _submit(port, token)
    except OSError as error:  # the connection reset by the killed process (URLError is an OSError)
        return error
