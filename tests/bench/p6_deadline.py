"""P6 of `make bench`: the deadline surge. Simulated users submit their application (modello-d3) through
the gateway as fast as the machine allows; each submission checks the personal code with enablement over
polis.rpc and renders, files and emails the PDF/A receipt.

The system: polis.testing.devstack (the whole stack, its demo data, PostgreSQL for every service, a RabbitMQ
node, a storing SMTP sink). The users: created in-process with IAM's own `create_account` against IAM's
database (so the iam.account_registered fact reaches enablement and the notifier through the outbox), a
personal code each inserted into enablement's database (the same argon2id hash, as P7 does), then each logs
in through the gateway (the browser flow of P1-login) and saves profile, contacts and draft over the API.
Surge: P6_THREADS users at a time (closed loop), P6_SUBMISSIONS submissions; then P6_HALF_SUBMISSIONS
more at half the measured rate (open loop) for p50/p99. Baseline, same run, same number of processes as the
services' web workers: bare argon2id verify + bare render of the same receipt (istanze.receipts.render).
Goal: >= 0.60 of the baseline. Accounting: receipts in istanze's archive = emails accepted by the sink =
submissions, no protocol number twice.

`P6_PYSPY=out.txt` records istanze's web processes under py-spy during the surge (raw collapsed stacks).
The gateway's credential-call limits are raised: every simulated user comes from 127.0.0.1 here.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any

from bench_common import D3_ANSWERS, ISTANZE_CONTACTS, Result, cpu_seconds

ROOT = Path(__file__).resolve().parents[2]


PASSWORD = "lampone tavolo bicicletta nuvola"  # p1_login's Agent logs in with its own PASSWORD
CODE = "Scadenza2026bench"
WEB_WORKERS = 2
BASE = "/api/istanze/v1"
SUBMISSION = f"{BASE}/applications/modello-d3/submission"


def _owasp() -> Any:
    from argon2 import PasswordHasher

    return PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def create_users(iam_url: str, enablement_url: str, count: int) -> list[tuple[str, str]]:
    """`count` active IAM accounts (create_account: its event in the outbox), a personal code each."""
    from datetime import UTC, datetime

    import p1_login
    from codicefiscale import codicefiscale
    from enablement.personal_codes.models import ACTIVE, PersonalCode
    from iam.accounts import service as accounts
    from iam.accounts.models import AccountKind, AccountState
    from iam.passwords.hashing import hash_secret
    from polis.db import Database

    password_hash = hash_secret(p1_login.PASSWORD)
    iam = Database(iam_url)
    users: list[tuple[str, str]] = []
    birth_place = codicefiscale.encode_birthplace("Roma", "1980-01-01")
    with iam.transaction() as session:
        for index in range(count):
            first, last = "Bench", f"Scadenza{_letters(index)}"
            born = date(1960 + index % 40, 1 + index % 12, 1 + index % 28)
            cf = codicefiscale.encode(
                lastname=last, firstname=first, gender="F", birthdate=born.isoformat(), birthplace="Roma"
            )
            username = f"p6.user{index}"
            account = accounts.create_account(
                session,
                person=accounts.PersonalData(
                    codice_fiscale=cf,
                    first_name=first,
                    last_name=last,
                    birth_date=born,
                    sex="F",
                    birth_place_code=birth_place,
                    birth_place_name="Roma",
                ),
                kind=AccountKind.ORDINARY,
                state=AccountState.ACTIVE,
                username=username,
                personal_email=f"p6.user{index}@example.org",
                personal_email_verified=True,
                password_hash=password_hash,
            )
            users.append((username, str(account.id)))
    iam.dispose()
    code_hash = _owasp().hash(CODE)
    enablement = Database(enablement_url)
    now = datetime.now(UTC)
    with enablement.transaction() as session:
        session.add_all(
            PersonalCode(
                account_id=uuid.UUID(i), code_hash=code_hash, state=ACTIVE, failures=0, changed_at=now
            )
            for _, i in users
        )
    enablement.dispose()
    return users


def _letters(n: int) -> str:
    """A surname part from a number (codice fiscale surnames are letters)."""
    out = ""
    for _ in range(4):
        out += "BCDFGLMNPRSTVZ"[n % 14]
        n //= 14
    return out.capitalize()


class Client:
    """A logged-in user: p1_login's Agent (cookies, keep-alive) plus JSON calls."""

    def __init__(self, host: str, port: int, username: str) -> None:
        import p1_login

        self.agent = p1_login.Agent(host, port)
        self.agent.login(username)
        self.username = username

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """A JSON call of the API with the agent's cookies and connection; the status and decoded answer."""
        status, _location, raw = self.agent.request(
            method, path, headers={"Sec-Fetch-Site": "same-origin"}, json_body=body
        )
        return status, json.loads(raw or b"null")

    def prepare(self) -> None:
        for path, body in (
            (f"{BASE}/profile", {"staff_category": "ata"}),
            (f"{BASE}/contacts", ISTANZE_CONTACTS),
            (f"{BASE}/applications/modello-d3/sections/sedi", D3_ANSWERS),
        ):
            status, answer = self.call("PUT", path, body)
            if status != 200:
                raise SystemExit(f"P6 setup {path} for {self.username}: {status} {answer}")

    def submit(self) -> str:
        status, answer = self.call("POST", SUBMISSION, {"personal_code": CODE, "key": uuid.uuid4().hex})
        if status != 200:
            raise SystemExit(f"P6 submission of {self.username}: {status} {answer}")
        return str(answer["protocol_number"])


def parallel(items: list[Any], threads: int, work: Any) -> list[Any]:
    results: list[Any] = [None] * len(items)
    errors: list[BaseException] = []
    cursor = iter(range(len(items)))
    lock = threading.Lock()

    def run() -> None:
        while True:
            with lock:
                index = next(cursor, None)
            if index is None or errors:
                return
            try:
                results[index] = work(items[index])
            except BaseException as error:
                errors.append(error)

    pool = [threading.Thread(target=run, daemon=True) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    if errors:
        raise errors[0]
    return results


def open_loop(clients: list[Client], rate: float) -> tuple[list[float], list[str]]:
    """One submission every 1/rate seconds, each in its own thread; latency from its scheduled start."""
    latencies: list[float] = [0.0] * len(clients)
    numbers: list[str] = [""] * len(clients)
    errors: list[BaseException] = []
    started = time.perf_counter()

    def one(index: int, due: float) -> None:
        try:
            numbers[index] = clients[index].submit()
            latencies[index] = time.perf_counter() - due
        except BaseException as error:
            errors.append(error)

    threads = []
    for index in range(len(clients)):
        due = started + index / rate
        time.sleep(max(0.0, due - time.perf_counter()))
        thread = threading.Thread(target=one, args=(index, due), daemon=True)
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return latencies, numbers


def stored_receipt(istanze_url: str) -> Any:
    """The ReceiptData of one filed submission, rebuilt as submit() builds it."""
    from istanze.applications.models import SUBMITTED, Application
    from istanze.applications.schools import SCHOOLS
    from istanze.contacts.service import contacts_of, receipt_lines
    from istanze.procedures import service as procedures
    from istanze.receipts.render import ReceiptData
    from polis.db import Database
    from sqlalchemy import select

    db = Database(istanze_url)
    with db.transaction() as session:
        app = session.scalars(select(Application).where(Application.state == SUBMITTED)).first()
        procedure = procedures.published(session, code="modello-d3")
        data = ReceiptData(
            procedure_code=procedure.code,
            procedure_title=procedure.title_it,
            procedure_version=procedure.version,
            form=procedure.form,
            answers=dict(app.answers),
            protocol_number=f"{app.protocol_number:07d}",
            segnatura=app.segnatura,
            registered_at=app.submitted_at,
            account_id=str(app.account_id),
            applicant="Bench Scadenza",
            contacts=tuple(receipt_lines(contacts_of(session, account_id=app.account_id))),
            schools=dict(SCHOOLS),
        )
    db.dispose()
    return data


def _baseline_for(data: Any, seconds: float) -> tuple[int, float]:
    """Verify + render for `seconds` (after one warm-up of each): how many, and the CPU seconds they took."""
    from istanze.receipts.render import render

    hasher, code_hash, done = _owasp(), _owasp().hash(CODE), 0
    hasher.verify(code_hash, CODE)
    render(data)
    cpu_started = time.process_time()
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        hasher.verify(code_hash, CODE)
        render(data)
        done += 1
    return done, time.process_time() - cpu_started


def baseline_rate(data: Any, seconds: float, processes: int) -> tuple[float, float]:
    """Operations per second over `processes` processes, and CPU seconds per operation."""
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        runs = pool.starmap(_baseline_for, [(data, seconds)] * processes)
    done = sum(count for count, _ in runs)
    return done / seconds, sum(cpu for _, cpu in runs) / max(1, done)


def accounting(istanze_url: str) -> tuple[int, int, list[str]]:
    """Receipts in the archive, their distinct protocol numbers, and their documents' SHA-256."""
    from polis.db import Database
    from sqlalchemy import text

    db = Database(istanze_url)
    with db.engine.connect() as connection:
        total, distinct = connection.execute(
            text("SELECT count(*), count(DISTINCT (protocol_year, protocol_number)) FROM receipts")
        ).one()
        hashes = [str(h) for h in connection.execute(text("SELECT sha256 FROM receipts")).scalars()]
    db.dispose()
    return int(total), int(distinct), hashes


def receipt_emails(sink: Any) -> list[str]:
    """The SHA-256 of the PDF attached to each "inoltrata" email the sink accepted."""
    found = []
    for message in sink.messages():
        if "inoltrata" not in str(message["Subject"]):
            continue
        for part in message.walk():
            if part.get_content_type() == "application/pdf":
                found.append(hashlib.sha256(bytes(part.get_payload(decode=True))).hexdigest())
    return found


def profile_istanze(stack: Any, work: Path) -> subprocess.Popen[bytes] | None:
    """P6_PYSPY=out.txt: py-spy samples istanze's web processes during the surge (collapsed stacks)."""
    out = os.environ.get("P6_PYSPY")
    if not out:
        return None
    spy = Path(sys.executable).with_name("py-spy")
    pid = stack.process("istanze-web").pid
    command = [str(spy), "record", "--subprocesses", "--format", "raw", "-o", out, "--pid", str(pid)]
    log = open(work / "p6-py-spy.log", "wb")  # noqa: SIM115 - the child's output, for the run's life
    child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    time.sleep(1.0)  # py-spy attaches before the load starts
    return child


def pg_cpu(pg: Any) -> float:
    """CPU seconds of the PostgreSQL postmaster and its backends."""
    pid = int((Path(pg.data_dir) / "postmaster.pid").read_text().split()[0])
    return cpu_seconds(parent=pid)


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(len(ordered) * q) - 1))]


def bench_deadline(work: Path, *, pg: Any, rabbit: Any) -> list[Result]:
    from polis.db import Database
    from polis.testing.devstack import Stack
    from polis.testing.helpers import wait_until
    from polis.testing.smtp import SmtpSink
    from polis.testing.stack_layout import SERVICES, StackConfig
    from sqlalchemy import text

    surge = int(os.environ.get("P6_SUBMISSIONS", "200"))
    half = int(os.environ.get("P6_HALF_SUBMISSIONS", "100"))
    threads = int(os.environ.get("P6_THREADS", "16"))
    os.environ["POLIS_ENV"] = "test"
    urls = {service: pg.create_database(f"p6_{service}") for service in SERVICES}
    with SmtpSink(work / "p6-sink") as sink:
        config = StackConfig.on_free_ports(
            work / "p6-stack",
            broker_url=rabbit.url,
            smtp=(sink.host, sink.port),
            database_urls=urls,
            web_workers=WEB_WORKERS,
            env={
                "GATEWAY_RATELIMIT_DEFAULT": "100000000 per minute",
                "GATEWAY_RATELIMIT_AUTHENTICATION": "100000000 per minute",
                "GATEWAY_RATELIMIT_AUTHENTICATION_BLOCK": "100000000 per minute",
                # As P7 gives a check 10 s: on a busy shared machine the run slows instead of failing
                # (a check past 5 s answers 503 and the user's draft stays a draft).
                "ISTANZE_RPC_TIMEOUT": "10",
            },
        )
        stack = Stack(config)
        stack.start()
        try:
            users = create_users(urls["iam"], urls["enablement"], surge + half)
            notifier = Database(urls["notifier"])

            def known() -> int:
                with notifier.engine.connect() as connection:
                    return int(connection.execute(text("SELECT count(*) FROM accounts")).scalar_one())

            wait_until(lambda: known() >= len(users), timeout=120)  # the facts reached the notifier
            gateway = stack.gateway_url.split("//", 1)[1]
            host, port = gateway.split(":")[0], int(gateway.split(":")[1].split("/")[0])
            setup_started = time.perf_counter()

            def ready_client(user: tuple[str, str]) -> Client:
                client = Client(host, int(port), user[0])
                client.prepare()
                return client

            clients = parallel(users, threads, ready_client)
            setup = time.perf_counter() - setup_started
            sink.clear()

            surge_clients = clients[:surge]
            groups = {name: proc.pid for name, proc in stack.processes.items() if proc.pid}
            cpu_before = {name: cpu_seconds(group=pid) for name, pid in groups.items()}
            cpu_before["postgresql"] = pg_cpu(pg)
            spy = profile_istanze(stack, work)
            started = time.perf_counter()
            surge_numbers = parallel(surge_clients, threads, lambda c: c.submit())
            elapsed = time.perf_counter() - started
            if spy is not None:
                spy.send_signal(signal.SIGINT)  # py-spy writes what it sampled so far
                spy.wait(timeout=60)
            rate = surge / elapsed
            cpu = {name: cpu_seconds(group=pid) - cpu_before[name] for name, pid in groups.items()}
            cpu["postgresql"] = pg_cpu(pg) - cpu_before["postgresql"]

            latencies, half_numbers = open_loop(clients[surge:], rate / 2)
            submissions = surge + half
            wait_until(lambda: len(receipt_emails(sink)) >= submissions, timeout=180)
            time.sleep(1.0)  # any duplicate email would land now
            emailed = receipt_emails(sink)
            emails = len(emailed)
            receipts, distinct, archived = accounting(urls["istanze"])
            same_documents = sorted(emailed) == sorted(archived)
            numbers = surge_numbers + half_numbers
            duplicates = len(numbers) - len(set(numbers))
            data = stored_receipt(urls["istanze"])
            notifier.dispose()
        finally:
            stack.stop()
    bare, bare_cpu = baseline_rate(data, 10.0, WEB_WORKERS)
    stack_cpu = sum(cpu.values()) / surge
    accounted = receipts == emails == submissions == distinct and duplicates == 0 and same_documents
    busiest = sorted(cpu.items(), key=lambda item: -item[1])[:6]
    cpu_text = ", ".join(f"{name} {seconds / surge * 1000:,.0f}" for name, seconds in busiest)
    detail = (
        f"{rate:.2f} submissions/s vs baseline {bare:.2f}/s (ratio {rate / bare:.2f}, goal 0.60); "
        f"{surge} submissions by {threads} users at a time in {elapsed:.1f} s (setup of {len(users)} users: "
        f"{setup:.0f} s); at half rate ({rate / 2:.1f}/s, {half} submissions): p50 "
        f"{statistics.median(latencies) * 1000:,.0f} ms, p99 {_p(latencies, 0.99) * 1000:,.0f} ms; "
        f"accounting: submissions {submissions}, receipts in archive {receipts}, emails accepted {emails}, "
        f"distinct protocol numbers {distinct}, duplicates {duplicates}, emailed PDFs = archived PDFs "
        f"(SHA-256) {same_documents} -> {'OK' if accounted else 'MISMATCH'}; CPU ms per submission "
        f"during the surge: all processes {stack_cpu * 1000:,.0f} (busiest: {cpu_text}) vs baseline "
        f"{bare_cpu * 1000:,.0f} per verify + render "
        f"(CPU ratio {bare_cpu / stack_cpu if stack_cpu else 0:.2f})"
    )
    print("P6:", detail, flush=True)
    if not accounted:
        raise SystemExit(f"P6 accounting failed: {detail}")
    return [
        Result(
            "P6 deadline surge: submissions",
            rate,
            "/s",
            f"bare argon2id verify + receipt render, {WEB_WORKERS} processes",
            bare,
            ">= 0.60",
            detail,
        )
    ]


if __name__ == "__main__":
    print("run it through tests/bench/run.py --only p6")
