"""What the benches share: a browser-like HTTP client (cookies, one keep-alive connection), one-shot token
requests and JSON reads (P3's two providers), the servers under test as children in their own process
group (a service's gunicorn, the gateway's server, and the wait for their /healthz), wrk as the load (with
a Lua script, CPU meters and wrk's own CPU), CPU accounting from /proc (by process group, parent or pid;
Linux only), polis.testing's free ports and "wait until the queue exists" (re-exported), and `Result`, the
row of a figure beside its baseline that run.py prints. Every bench imports these from here.

The last section is shared with the cross-service tests (tests/test_*.py import it as `bench.bench_common`):
accounts straight in IAM's database, events published as the relay does, istanze's form answers."""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from polis.testing.ports import free_port
from polis.testing.rabbitmq import wait_for_queue

__all__ = [
    "D3_ANSWERS",
    "ISTANZE_CONTACTS",
    "ROOT",
    "VENV_BIN",
    "Browser",
    "Result",
    "WrkRun",
    "active_account",
    "basic_auth",
    "cpu_by_pid",
    "cpu_seconds",
    "cpu_spent",
    "free_port",
    "gateway_server",
    "get_json",
    "gunicorn_service",
    "local_path",
    "proc_stats",
    "process",
    "process_cpu",
    "publish_events",
    "relay_properties",
    "stat_fields",
    "token_request",
    "wait_for_queue",
    "wait_http",
    "wrk",
    "wrk_run",
]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"


@dataclass
class Result:
    """One figure of `make bench` next to the baseline measured in the same run."""

    name: str
    value: float
    unit: str
    baseline_name: str
    baseline: float
    goal: str
    detail: str = ""

    @property
    def ratio(self) -> float:
        return self.value / self.baseline if self.baseline else 0.0


# --- HTTP -----------------------------------------------------------------------------------------------


def local_path(url: str) -> str:
    """The path and query of a URL (a Location on the same server)."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


class Browser:
    """Cookies and one keep-alive connection to one server (reopened once if the server dropped it);
    `local_locations`: absolute Location headers become paths on it."""

    def __init__(self, host: str, port: int, *, timeout: float = 60, local_locations: bool = True) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.local_locations = local_locations
        self.conn = http.client.HTTPConnection(host, port, timeout=timeout)
        self.cookies: dict[str, str] = {}
        self.requests = 0  # HTTP requests sent

    def request(
        self,
        method: str,
        path: str,
        form: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        *,
        json_body: Any = None,
    ) -> tuple[int, str, bytes]:
        """(status, Location or "", body) of one request, the form sent url-encoded (or `json_body` as
        JSON); cookies kept."""
        sent = {"Connection": "keep-alive", **(headers or {})}
        self.requests += 1
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form)
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        elif json_body is not None:
            body = json.dumps(json_body)
            sent["Content-Type"] = "application/json"
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body, sent)
                response = self.conn.getresponse()
                payload = response.read()
                break
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
                if attempt == 2:
                    raise
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, value = header.split(";", 1)[0].partition("=")
            lowered = header.lower()
            if value in ("", '""') or "max-age=0" in lowered or "expires=thu, 01 jan 1970" in lowered:
                self.cookies.pop(name.strip(), None)
            else:
                self.cookies[name.strip()] = value
        location = response.getheader("Location") or ""
        if self.local_locations and location.startswith("http"):
            location = local_path(location)
        return response.status, location, payload

    def close(self) -> None:
        self.conn.close()


def basic_auth(client_id: str, secret: str) -> str:
    """The credentials of an HTTP Basic Authorization header (client_secret_basic)."""
    return base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def token_request(host: str, port: int, path: str, auth: str, form: dict[str, str]) -> dict[str, Any]:
    """One token request on its own connection (client_secret_basic); the JSON answer, or SystemExit."""
    headers = {"Authorization": f"Basic {auth}", "Content-Type": "application/x-www-form-urlencoded"}
    return _json_answer(host, port, "POST", path, urlencode(form), headers, what=form["grant_type"])


def get_json(host: str, port: int, path: str) -> dict[str, Any]:
    """A GET on its own connection; the JSON answer, or SystemExit when it is not a 200."""
    return _json_answer(host, port, "GET", path, None, {}, what="GET")


def _json_answer(
    host: str, port: int, method: str, path: str, body: str | None, headers: dict[str, str], *, what: str
) -> dict[str, Any]:
    conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        conn.request(method, path, body, headers)
        response = conn.getresponse()
        payload = response.read()
    finally:
        conn.close()
    if response.status != 200:
        raise SystemExit(f"{what} at {host}:{port}{path}: {response.status} {payload[:300]!r}")
    answer: dict[str, Any] = json.loads(payload)
    return answer


# --- processes ------------------------------------------------------------------------------------------


@contextmanager
def process(
    name: str, argv: list[str], *, cwd: Path, env: dict[str, str], logs: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """A child in its own process group, stopped with its whole group when the block ends."""
    log_file = open(logs / f"{name}.log", "wb")  # noqa: SIM115 - closed below, after the child
    child = subprocess.Popen(
        argv,
        cwd=cwd,
        env={**os.environ, **env},
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield child
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGTERM)
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
        log_file.close()


@contextmanager
def gunicorn_service(
    name: str, *, cwd: Path, env: dict[str, str], logs: Path, health_url: str
) -> Iterator[subprocess.Popen[bytes]]:
    """A service under gunicorn with its own gunicorn.conf.py (`wsgi:app` in `cwd`), in its own process
    group, waited for until `health_url` answers 200; its log is logs/<name>.log."""
    argv = [str(VENV_BIN / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"]
    with process(name, argv, cwd=cwd, env=env, logs=logs) as child:
        wait_http(health_url, child, logs / f"{name}.log")
        yield child


@contextmanager
def gateway_server(*, env: dict[str, str], logs: Path, url: str) -> Iterator[subprocess.Popen[bytes]]:
    """The gateway on its own server (`python -m gateway.server`, Granian), waited for until `url`/healthz
    answers 200; its log is logs/gateway.log."""
    argv = [str(VENV_BIN / "python"), "-m", "gateway.server"]
    with process("gateway", argv, cwd=ROOT / "gateway", env=env, logs=logs) as child:
        wait_http(f"{url}/healthz", child, logs / "gateway.log")
        yield child


def wait_http(url: str, child: subprocess.Popen[bytes], log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise SystemExit(f"{url}: the server exited; its log ({log}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback only
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} did not answer within {timeout:.0f} s; log: {log}")


def wrk_binary() -> str:
    binary = shutil.which("wrk")
    if binary is None:
        raise SystemExit("wrk is not installed: run `make install-bench` (apt-get install wrk)")
    return binary


@dataclass
class WrkRun:
    """What one wrk run measured."""

    rate: float  # wrk's Requests/sec
    count: int  # requests answered
    seconds: float  # wrk's own measure of the run's length
    cpu: dict[str, float]  # CPU seconds each meter counted over the run
    client_cpu: float  # wrk's own CPU seconds
    output: str  # wrk's stdout and stderr (a Lua script's report included)


def wrk_run(
    url: str,
    *,
    duration: int,
    connections: int,
    threads: int = 2,
    timeout: int = 2,
    script: Path | None = None,
    script_args: tuple[str, ...] | list[str] = (),
    meters: dict[str, Callable[[], dict[int, float]]] | None = None,
) -> WrkRun:
    """One wrk run (a Lua `script` with its arguments, if given), with the CPU each meter (a snapshot by
    pid, e.g. `lambda: cpu_by_pid(group=pgid)`) counted over it; non-2xx answers, socket errors and
    requests slower than `timeout` seconds make the run fail (SystemExit)."""
    argv = [wrk_binary(), f"-t{threads}", f"-c{connections}", f"-d{duration}s", f"--timeout={timeout}s"]
    if script is not None:
        argv += ["-s", str(script), url, "--", *script_args]
    else:
        argv.append(url)
    meters = meters or {}
    before = {name: read() for name, read in meters.items()}
    client_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 120, check=False)
    client_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    after = {name: read() for name, read in meters.items()}
    out = done.stdout + done.stderr
    if done.returncode != 0:
        raise SystemExit(f"wrk failed against {url}:\n{out}")
    if "Non-2xx or 3xx responses" in out or "Socket errors" in out:
        raise SystemExit(f"wrk saw errors against {url}:\n{out}")
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    count = re.search(r"(\d+) requests in ([\d.]+)(m?s)", out)
    if rate is None or count is None:
        raise SystemExit(f"cannot read wrk's output:\n{out}")
    client = sum(getattr(client_after, f) - getattr(client_before, f) for f in ("ru_utime", "ru_stime"))
    return WrkRun(
        rate=float(rate.group(1)),
        count=int(count.group(1)),
        seconds=float(count.group(2)) / (1000 if count.group(3) == "ms" else 1),
        cpu={name: cpu_spent(before[name], after[name]) for name in meters},
        client_cpu=client,
        output=out,
    )


def wrk(
    url: str, *, duration: int, connections: int, servers: tuple[int, ...] = (), timeout: int = 2
) -> tuple[float, float]:
    """Requests per second measured by wrk after a short warm-up, and the CPU microseconds the server
    process groups `servers` spent per request (a figure other load on the machine barely moves);
    non-2xx answers and requests slower than `timeout` seconds (wrk's default, 2) make the run fail."""
    # The warm-up: its errors (a server still starting) are not the measure's.
    subprocess.run([wrk_binary(), "-t2", f"-c{connections}", "-d2s", url], capture_output=True, check=True)
    run = wrk_run(
        url,
        duration=duration,
        connections=connections,
        timeout=timeout,
        meters={"servers": lambda: {pgid: cpu_seconds(group=pgid) for pgid in servers}},
    )
    return run.rate, run.cpu["servers"] / max(1, run.count) * 1e6


# --- CPU ------------------------------------------------------------------------------------------------


def stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (which is in parentheses and may hold spaces):
    [1] ppid, [2] pgid, [3] session, [11] [12] utime stime, [13] [14] of reaped children; None once gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()


def proc_stats() -> list[tuple[int, int, int, float]]:
    """(pid, ppid, pgid, cpu seconds) of every process, from /proc."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        fields = stat_fields(int(name))
        if fields is None:
            continue
        found.append(
            (int(name), int(fields[1]), int(fields[2]), (int(fields[11]) + int(fields[12])) / CLOCK_TICKS)
        )
    return found


def cpu_by_pid(*, group: int | None = None, parent: int | None = None) -> dict[int, float]:
    """CPU used so far by each process of a process group (a gunicorn and its workers), or of a process
    and its children (PostgreSQL's postmaster and its backends)."""
    return {
        pid: cpu
        for pid, ppid, pgid, cpu in proc_stats()
        if (group is not None and pgid == group) or (parent is not None and parent in (pid, ppid))
    }


def cpu_spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds between two snapshots (a process that ended in between is not counted: a lower bound)."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


def cpu_seconds(*, group: int | None = None, parent: int | None = None) -> float:
    """User + system CPU seconds so far of every live process of a group, or of a process and its children."""
    return sum(cpu_by_pid(group=group, parent=parent).values())


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of one process (all its threads)."""
    fields = stat_fields(pid)
    if fields is None:
        raise ProcessLookupError(pid)
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


# --- shared with the cross-service tests ----------------------------------------------------------------
# tests/ is on the tests' sys.path (pytest's prepend import mode) and tests/bench is a package there, so the
# e2e tests import these as `bench.bench_common`; tests/support is not on the benches' path, so what both
# sides need lives here.

# Contacts and the "sedi" section of modello-d3 (istanze's demo procedure) as a person in Rome fills them in.
ISTANZE_CONTACTS = {
    "mobile_phone": "333 123 4567",
    "address": "Via Garibaldi 12",
    "postal_code": "00153",
    "nation": "Italia",
    "province": "RM",
    "comune": "Roma",
}
D3_ANSWERS = {"schools": ["RMPS01000A", "MIIS00900T"], "dichiarazione_veridicita": True}


def active_account(username: str, *, password_hash: str, now: datetime | None = None, **columns: Any) -> Any:
    """IAM's row of an active ordinary account as registration leaves it (personal address verified at `now`,
    Italian, credentials version 1), for the caller's transaction; `columns` set or override any column
    (id, names, codice_fiscale, roles, ...). Straight in the database: no outbox fact unless the caller
    records one."""
    from iam.accounts.models import Account

    now = now or datetime.now(UTC)
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "username": username,
        "kind": "ordinary",
        "state": "active",
        "roles": [],
        "codice_fiscale": uuid.uuid4().hex[:16].upper(),
        "personal_email": f"{username}@example.org",
        "personal_email_verified_at": now,
        "language": "it",
        "password_hash": password_hash,
        "credentials_version": 1,
        "failed_logins": 0,
        "created_at": now,
        "activated_at": now,
        **columns,
    }
    return Account(**values)


def relay_properties(event: Any) -> Any:
    """The AMQP properties polis.events.relay gives an event: persistent JSON, its id, type, correlation id
    and envelope version."""
    import pika
    from polis.events import broker

    return pika.BasicProperties(
        content_type="application/json",
        delivery_mode=pika.DeliveryMode.Persistent.value,
        message_id=event.id,
        type=event.type,
        correlation_id=event.correlation_id,
        headers={broker.HEADER_VERSION: event.version},
    )


def publish_events(url: str, events: Iterable[Any], *, bind_to: str | None = None) -> None:
    """Publish events as a relay does (mandatory, the type as routing key, each confirm awaited) on one
    blocking connection. `bind_to`: a consumer's queue bound first to each event type (idempotent), so
    that no event published before the consumer binds it is routed to polis.unrouted."""
    import pika
    from polis.events import broker

    events = list(events)
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        if bind_to is not None:
            for event_type in {event.type for event in events}:
                channel.queue_bind(bind_to, broker.EXCHANGE, routing_key=event_type)
        for event in events:
            channel.basic_publish(
                broker.EXCHANGE, event.type, event.to_json(), relay_properties(event), mandatory=True
            )
    finally:
        connection.close()
