"""P1-login: password logins per second through the gateway, the whole browser flow, at the OWASP argon2
parameters, next to the bare argon2 verify rate measured on the same cores in the same run.

One login is what a new browser does: GET /accedi (gateway) -> /oidc/authorize (forwarded to IAM; it answers
with the login form and its CSRF token) -> POST /iam/accedi (argon2 verify; it answers with the code for the
portal's redirect URI, issue 18) -> /accedi/callback (the gateway exchanges the code with IAM and validates
the ES256 ID token) -> /area-personale (the portal session). Goal: >= 0.70 of the bare argon2 rate. Then the
median and p99 latency of one such login at half the measured rate (open loop: logins start on a fixed
schedule). Inside IAM (issue 18): the CPU of one argon2 verify during the load (polis.hashing's /metrics,
beside the bare figure), and on PostgreSQL the statements one login sends (its statement log over 20
logins in a row).

Run alone: .venv/bin/python tests/bench/run.py --only p1-login [--duration 20 --login-database sqlite]
"""

from __future__ import annotations

import multiprocessing
import os
import re
import statistics
import subprocess
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from html import unescape
from pathlib import Path
from typing import Any

from bench_common import (
    ROOT,
    VENV_BIN,
    Browser,
    Result,
    active_account,
    cpu_by_pid,
    cpu_spent,
    free_port,
    gateway_server,
    gunicorn_service,
)

PASSWORD = "bench passphrase for the login benchmark"
ACCOUNTS = 64
ROUNDS = 3  # alternating slices of bare argon2 and of logins
CSRF = re.compile(rb'name="csrf_token" value="([^"]+)"')
NEXT = re.compile(rb'name="next" value="([^"]+)"')


# --- the bare argon2 verify rate ------------------------------------------------------------------------


def _verify_loop(stored: str, seconds: float, counter: Any) -> None:
    from iam.passwords.hashing import hasher

    ph = hasher()  # the OWASP parameters
    done = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        ph.verify(stored, PASSWORD)
        done += 1
    with counter.get_lock():
        counter.value += done


def bare_argon2_rate(seconds: float) -> tuple[float, float, int]:
    """argon2id verifications per second with one process per core (what the login path can at best do),
    and the CPU milliseconds of one verify under that same parallelism."""
    import resource

    from iam.passwords.hashing import hash_secret

    stored = hash_secret(PASSWORD)
    cores = os.cpu_count() or 1
    counter = multiprocessing.Value("q", 0)
    workers = [
        multiprocessing.Process(target=_verify_loop, args=(stored, seconds, counter)) for _ in range(cores)
    ]
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)
    return counter.value / elapsed, cpu / max(1, counter.value) * 1000, cores


# --- one browser ----------------------------------------------------------------------------------------


class LoginFailed(RuntimeError):
    pass


class Agent(Browser):
    """A browser with its own cookies and one keep-alive connection to the gateway (bench_common.Browser)."""

    def expect(
        self, method: str, path: str, status: int, body: dict[str, str] | None = None
    ) -> tuple[str, bytes]:
        got, location, payload = self.request(method, path, body)
        if got != status:
            raise LoginFailed(f"{method} {path.split('?')[0]}: {got} (expected {status}) {payload[:200]!r}")
        return location, payload

    def login(self, username: str) -> None:
        """The whole flow of a new browser, from "Accedi" to the personal home page."""
        self.cookies.clear()
        # To the portal's personal home: P1 runs IAM and the gateway only, not enablement's landing (D-ENA-1).
        authorize, _ = self.expect("GET", "/accedi?next=/area-personale", 303)
        _, page = self.expect("GET", authorize, 200)  # the login form, in the endpoint's answer
        csrf, next_path = CSRF.search(page), NEXT.search(page)
        if csrf is None or next_path is None:
            raise LoginFailed("no login form")
        form = {
            "username": username,
            "password": PASSWORD,
            "next": unescape(next_path.group(1).decode()),
            "csrf_token": csrf.group(1).decode(),
        }
        callback, _ = self.expect("POST", "/iam/accedi", 303, form)  # the code, straight from the login
        home, _ = self.expect("GET", callback, 303)
        self.expect("GET", home, 200)


# --- load -----------------------------------------------------------------------------------------------


def closed_loop(
    host: str, port: int, *, agents: int, seconds: float, sent: list[int] | None = None
) -> tuple[float, list[str]]:
    """Logins per second with `agents` browsers logging in back to back (each its own account); the
    requests the browsers sent for the logins they completed are added to `sent`."""
    done = [0] * agents
    requests = [0] * agents
    errors: list[str] = []
    stop = threading.Event()

    def run(index: int) -> None:
        agent = Agent(host, port)
        try:
            while not stop.is_set():
                before = agent.requests
                try:
                    agent.login(f"bench.user{index % ACCOUNTS}")
                except Exception as error:
                    errors.append(str(error))
                    continue
                if not stop.is_set():
                    done[index] += 1
                    requests[index] += agent.requests - before
        finally:
            agent.close()

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(agents)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    stop.wait(seconds)
    stop.set()
    elapsed = time.perf_counter() - started
    for thread in threads:
        thread.join(timeout=60)
    if sent is not None:
        sent[0] += sum(requests)
        sent[1] += sum(done)
    return sum(done) / elapsed, errors


def open_loop(
    host: str, port: int, *, rate: float, seconds: float, agents: int
) -> tuple[list[float], list[str]]:
    """Latencies of logins started on a fixed schedule at `rate` per second (queueing included)."""
    schedule = [i / rate for i in range(int(rate * seconds))]
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[str] = []
    next_index = [0]
    started = time.perf_counter()

    def run(index: int) -> None:
        agent = Agent(host, port)
        try:
            while True:
                with lock:
                    if next_index[0] >= len(schedule):
                        return
                    slot = schedule[next_index[0]]
                    account = next_index[0] % ACCOUNTS
                    next_index[0] += 1
                wait = started + slot - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                try:
                    agent.login(f"bench.user{account}")
                except Exception as error:
                    errors.append(str(error))
                    continue
                latencies.append(time.perf_counter() - (started + slot))
        finally:
            agent.close()

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(agents)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, errors


# --- inside IAM: argon2 CPU and SQL statements per login -------------------------------------------------


ARGON2_SAMPLE = re.compile(
    r'^polis_argon2_(cpu_seconds|computations)_total\{operation="verify"\} ([0-9.e+-]+)$', re.M
)
STATEMENT_LOGINS = 20  # logins one after the other while PostgreSQL logs every statement
LOGGED = re.compile(r"LOG:  (?:statement|execute [^:]*): (\S+)")


def iam_argon2(iam_port: int) -> tuple[float, float]:
    """IAM's argon2 verifications so far, added up over its workers: (CPU seconds, count) (polis.hashing)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{iam_port}/metrics", timeout=30) as answer:
        text = answer.read().decode()
    found = {name: float(value) for name, value in ARGON2_SAMPLE.findall(text)}
    return found.get("cpu_seconds", 0.0), found.get("computations", 0.0)


def _set_statement_log(conninfo: str, value: str | None) -> None:
    import psycopg

    with psycopg.connect(conninfo, autocommit=True) as connection:
        if value is None:
            connection.execute("ALTER SYSTEM RESET log_statement")
        else:
            connection.execute(f"ALTER SYSTEM SET log_statement = '{value}'")
        connection.execute("SELECT pg_reload_conf()")
    # A backend forked after the postmaster's reload has the new value; the postmaster has signalled the
    # running ones (IAM's pooled connections) by then, and they apply it before their next command.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with psycopg.connect(conninfo, autocommit=True) as connection:
            shown = connection.execute("SHOW log_statement").fetchone()
        if shown is not None and shown[0] == (value or "none"):
            return
        time.sleep(0.05)
    raise SystemExit(f"P1-login: PostgreSQL's log_statement did not become {value!r}")


def statements_per_login(
    database_url: str, server_log: Path, login: Callable[[int], None]
) -> dict[str, float]:
    """What PostgreSQL received per login, from its statement log over STATEMENT_LOGINS logins in a row:
    statements by kind (BEGIN, COMMIT and ROLLBACK apart: each is a round trip too)."""
    conninfo = database_url.replace("postgresql+psycopg://", "postgresql://")
    _set_statement_log(conninfo, "all")
    try:
        login(0)  # every pooled connection has seen the new setting
        start = server_log.stat().st_size
        for index in range(STATEMENT_LOGINS):
            login(index)
        with server_log.open("rb") as log:
            log.seek(start)
            logged = log.read().decode(errors="replace")
    finally:
        _set_statement_log(conninfo, None)
    kinds = Counter(first.upper() for first in LOGGED.findall(logged))
    per_login = {kind: count / STATEMENT_LOGINS for kind, count in kinds.items()}
    per_login["all"] = sum(kinds.values()) / STATEMENT_LOGINS
    return per_login


# --- the system under test ------------------------------------------------------------------------------


def create_accounts(database_url: str) -> None:
    """ACCOUNTS active accounts sharing one OWASP hash (the verify cost is the same for each)."""
    from iam.passwords.hashing import hash_secret
    from polis.db import Database

    stored = hash_secret(PASSWORD)
    now = datetime.now(UTC)
    database = Database(database_url)
    with database.transaction() as session:
        for index in range(ACCOUNTS):
            session.add(
                active_account(
                    f"bench.user{index}",
                    password_hash=stored,
                    now=now,
                    codice_fiscale=f"BNCUSR{index:02d}A01H501X",
                    first_name="Bench",
                    last_name=f"User{index}",
                    personal_email=f"bench{index}@example.org",
                )
            )
    database.dispose()


def bench_login(
    work: Path,
    *,
    duration: int,
    agents: int,
    database_url: str,
    database_label: str,
    gunicorn_args: str,
    postgres_data_dir: Path | None = None,
) -> list[Result]:
    """Start IAM and the gateway, measure, return P1-login's results."""
    logs = work / "logs"
    logs.mkdir(exist_ok=True)
    metrics_dir = work / "iam-metrics"
    metrics_dir.mkdir(exist_ok=True)
    iam_port, gateway_port = free_port(), free_port()
    gateway_url = f"http://127.0.0.1:{gateway_port}"
    base_env = {
        "POLIS_ENV": "dev",
        "POLIS_VAR_DIR": str(work / "var"),
        "GUNICORN_CMD_ARGS": gunicorn_args,
        "POLIS_BROKER_URL": f"amqp://guest:guest@127.0.0.1:{free_port()}/%2F",  # not on this path
        "POLIS_LOG_LEVEL": "WARNING",
    }
    iam_env = {
        **base_env,
        "IAM_BIND": f"127.0.0.1:{iam_port}",
        "IAM_DATABASE_URL": database_url,
        "IAM_PUBLIC_BASE_URL": gateway_url,
        "IAM_LOG_LEVEL": "WARNING",
        # As deployed (deploy/compose.yaml): /metrics adds up the workers, here the argon2 CPU inside IAM.
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    gateway_env = {
        **base_env,
        # gateway-web (Granian) with the workers and threads gunicorn_args gives IAM.
        "GATEWAY_WORKERS": "2",
        "GATEWAY_THREADS": "8",
        "GATEWAY_BIND": f"127.0.0.1:{gateway_port}",
        "GATEWAY_IAM_URL": f"http://127.0.0.1:{iam_port}",
        # Rate limiting stays on (its cost is measured) with limits one address cannot reach here.
        "GATEWAY_RATELIMIT_DEFAULT": "100000000 per minute",
        "GATEWAY_RATELIMIT_AUTHENTICATION": "100000000 per minute",
        # The login POST's per-address block (600/min by default) would otherwise cap the load itself.
        "GATEWAY_RATELIMIT_AUTHENTICATION_BLOCK": "100000000 per minute",
    }
    iam_dir = ROOT / "services" / "iam"
    for argv in (
        [str(VENV_BIN / "alembic"), "-c", "alembic.ini", "upgrade", "head"],
        [str(VENV_BIN / "flask"), "--app", "iam", "demo-data"],
    ):
        done = subprocess.run(
            argv, cwd=iam_dir, env={**os.environ, **iam_env}, capture_output=True, text=True
        )
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv[-3:])} failed:\n{done.stdout}\n{done.stderr}")
    create_accounts(database_url)

    with (
        gunicorn_service(
            "iam", cwd=iam_dir, env=iam_env, logs=logs, health_url=f"http://127.0.0.1:{iam_port}/healthz"
        ) as iam,
        gateway_server(env=gateway_env, logs=logs, url=gateway_url) as gateway,
    ):
        Agent("127.0.0.1", gateway_port).login("bench.user0")  # warm-up, and a failure shows here first
        closed_loop("127.0.0.1", gateway_port, agents=agents, seconds=3)
        postmaster = None
        if postgres_data_dir is not None:
            postmaster = int((postgres_data_dir / "postmaster.pid").read_text().split()[0])

        def usage() -> tuple[dict[int, float], ...]:
            database = cpu_by_pid(parent=postmaster) if postmaster else {}
            client = {0: time.process_time()}
            return cpu_by_pid(group=iam.pid), cpu_by_pid(group=gateway.pid), database, client

        # Other work on the machine comes and goes: the bare rate and the login rate are measured in
        # alternating slices, so that both see the same conditions.
        bare_rates, login_rates, verify_cpu = [], [], []
        inside = [0.0, 0.0]  # IAM's argon2 verify CPU seconds and count during the slices
        spent = [0.0, 0.0, 0.0, 0.0]
        sent = [0, 0]  # browser requests, completed logins
        for _ in range(ROUNDS):
            bare_rate, verify_ms, cores = bare_argon2_rate(duration / ROUNDS)
            bare_rates.append(bare_rate)
            verify_cpu.append(verify_ms)
            before, argon2_before = usage(), iam_argon2(iam_port)
            login_rate, errors = closed_loop(
                "127.0.0.1", gateway_port, agents=agents, seconds=duration / ROUNDS, sent=sent
            )
            after, argon2_after = usage(), iam_argon2(iam_port)
            inside = [total + b - a for total, a, b in zip(inside, argon2_before, argon2_after, strict=True)]
            if errors:
                raise SystemExit(f"P1-login: {len(errors)} failed logins under load, e.g. {errors[0]}")
            login_rates.append(login_rate)
            logins = login_rate * duration / ROUNDS
            for index, (a, b) in enumerate(zip(before, after, strict=True)):
                spent[index] += cpu_spent(a, b) / logins * 1000 / ROUNDS
        rate, bare = statistics.mean(login_rates), statistics.mean(bare_rates)
        latencies, errors = open_loop(
            "127.0.0.1", gateway_port, rate=rate / 2, seconds=duration, agents=max(8, agents)
        )
        if errors:
            raise SystemExit(f"P1-login: {len(errors)} failed logins at half load, e.g. {errors[0]}")
        statements: dict[str, float] = {}
        verifies_per_login = float("nan")
        if postgres_data_dir is not None:
            agent = Agent("127.0.0.1", gateway_port)
            argon2_before = iam_argon2(iam_port)
            statements = statements_per_login(
                database_url,
                postgres_data_dir.parent / "server.log",  # where polis.testing's pg_ctl -l writes
                lambda index: agent.login(f"bench.user{index % ACCOUNTS}"),
            )
            agent.close()
            # The same logins, one at a time: the verifications per login exactly (none left in flight).
            verifies_per_login = (iam_argon2(iam_port)[1] - argon2_before[1]) / (STATEMENT_LOGINS + 1)

    iam_ms, gateway_ms, database_ms, client_ms = spent
    verify_ms = statistics.mean(verify_cpu)
    inside_ms = inside[0] / max(1.0, inside[1]) * 1000
    if statements:
        kinds = ", ".join(
            f"{kind} {count:.1f}"
            for kind, count in sorted(statements.items(), key=lambda item: -item[1])
            if kind != "all"
        )
        sql = (
            f"SQL statements per login (PostgreSQL's log, {STATEMENT_LOGINS} logins): "
            f"{statements['all']:.1f} ({kinds}); "
        )
    else:
        sql = "SQL statements and verifies per login: not counted (SQLite); "
    total_ms = iam_ms + gateway_ms + database_ms + client_ms
    latencies.sort()
    median = statistics.median(latencies) * 1000
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
    detail = (
        f"{cores} cores; per slice bare {', '.join(f'{r:.1f}' for r in bare_rates)}/s, logins "
        f"{', '.join(f'{r:.1f}' for r in login_rates)}/s; IAM gunicorn {gunicorn_args}; "
        "gateway: gateway-web (Granian) 2 workers x 8 threads; "
        f"{agents} browsers, {sent[0] / max(1, sent[1]):.0f} requests to the gateway per login; "
        f"{database_label}; "
        f"argon2id m=19 MiB t=2 p=1; at half load ({rate / 2:.1f}/s, {len(latencies)} logins): "
        f"median {median:.0f} ms, p99 {p99:.0f} ms. {sql}CPU per login: IAM {iam_ms:.1f} ms (argon2 "
        f"inside IAM: {inside_ms:.1f} ms per verify, {verifies_per_login:.2f} verifies per login; bare, "
        f"{cores} in parallel: {verify_ms:.1f} ms), gateway {gateway_ms:.1f}, "
        f"database {database_ms:.1f}, load generator {client_ms:.1f}; total {total_ms:.1f} ms "
        f"-> CPU-bound ratio {verify_ms / total_ms:.2f}"
    )
    return [
        Result(
            f"P1-login password logins ({database_label})",
            rate,
            "/s",
            "bare argon2id verify, same cores",
            bare,
            ">= 0.70 x bare",
            detail,
        )
    ]
