"""P7 of `make bench`: personal-code checks over polis.rpc from a gunicorn service, and the RPC round trip.

Checks: a gunicorn app (the services' settings: 2 workers x 8 threads) answers each request by asking
`enablement.check_personal_code` over RabbitMQ; enablement's own handler (throttling, argon2id at the OWASP
parameters, its database) answers in a responder process with the worker's threads (twice the cores,
argon2 bounded to the cores). wrk drives the app. Baseline, same run, same cores: bare argon2id verifies in
two processes, for half the load's time before and after each of P7_ROUNDS (3) rounds of load, each round
against the mean of its two (goal: >= 0.80 of bare).
Round trip: one caller thread, a responder whose handler does nothing, median and p99 of a call, next to
a bare pika round trip (publish with direct reply-to, an echo consumer, no contract, no sealing).

`P7_PYSPY=out.txt` records the responder process and the gunicorn app (its workers) under py-spy during
the load, idle samples included (raw collapsed stacks: out-responder.txt, out-app.txt); summarise one with
`.venv/bin/python tests/bench/p7_rpc.py --summary out-responder.txt`.
The detail line gives the CPU per check of every process on the path (app, responder, broker, PostgreSQL).

Run it through tests/bench/run.py --only p7.
"""

from __future__ import annotations

import argparse
import collections
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Literal

from bench_common import Result, cpu_seconds, free_port, process, process_cpu, wait_http, wrk

ROOT = Path(__file__).resolve().parents[2]

CODE = "Codice2026bench"
ACCOUNTS = 256
ROUNDS = int(os.environ.get("P7_ROUNDS", "3"))  # load rounds, each between two bare argon2id runs
METHOD = "enablement.check_personal_code"


def seed(database_url: str) -> list[str]:
    """Enabled accounts with a personal code each, in enablement's schema."""
    from datetime import UTC, datetime

    from enablement.models import Base
    from enablement.personal_codes.models import ACTIVE, PersonalCode
    from polis.db import Database

    db = Database(database_url)
    Base.metadata.create_all(db.engine)
    code_hash = _owasp().hash(CODE)
    ids = [str(uuid.uuid4()) for _ in range(ACCOUNTS)]
    with db.transaction() as session:
        now = datetime.now(UTC)
        session.add_all(
            PersonalCode(
                account_id=uuid.UUID(i), code_hash=code_hash, state=ACTIVE, failures=0, changed_at=now
            )
            for i in ids
        )
    db.dispose()
    return ids


def _owasp(spent: Any = None) -> Any:
    """The OWASP hasher; with `spent` (a shared double), one that adds the CPU of each verify to it."""
    from argon2 import PasswordHasher

    if spent is None:
        return PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)

    class Timed(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
            started = time.thread_time()
            try:
                return super().verify(hash, password)
            finally:
                with spent.get_lock():
                    spent.value += time.thread_time() - started

    return Timed(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def serve(
    broker_url: str, database_url: str, noop: bool, stop: Any, answered: Any = None, argon2: Any = None
) -> None:
    """A responder process: enablement's handler on its database, or one that answers at once; `answered`
    (a shared counter) counts the checks it answered, `argon2` (a shared double) the CPU seconds its
    argon2id verifies took, measured on their threads."""
    os.environ.setdefault("POLIS_ENV", "test")
    from polis.db import Database
    from polis.events.sealing import DEV_KEY_ID, DEV_PUBLIC_KEY, Sealer
    from polis.rpc import RpcResponder

    if noop:
        handlers = {METHOD: lambda payload: {"valid": False, "status": "not_enabled"}}
    else:
        from enablement.messaging import rpc
        from enablement.personal_codes.service import CodePolicy

        policy = CodePolicy(hasher=_owasp(argon2), sealer=Sealer(DEV_PUBLIC_KEY, DEV_KEY_ID))
        handlers = rpc.handlers(db=Database(database_url), policy=policy)
    if answered is not None:
        handlers = {method: _counted(handler, answered) for method, handler in handlers.items()}
    event = threading.Event()

    def relay() -> None:
        stop.wait()
        event.set()

    threading.Thread(target=relay, daemon=True).start()
    # The worker's own setting: twice the cores' argon2 bound in threads (polis.rpc.responder).
    RpcResponder(broker_url, service="enablement", handlers=handlers).run(event)


def _counted(handler: Any, answered: Any) -> Any:
    def handle(payload: dict[str, Any]) -> dict[str, Any]:
        reply = handler(payload)
        with answered.get_lock():
            answered.value += 1
        return dict(reply)

    return handle


def bare_argon2_rate(seconds: float) -> tuple[float, float]:
    """argon2id verifies per second in two processes (the cores), the same parameters as the handler, and
    the CPU seconds per verify."""
    code_hash = _owasp().hash(CODE)
    with multiprocessing.Pool(2) as pool:
        counts = pool.starmap(_verify_for, [(code_hash, seconds)] * 2)
    done = sum(count for count, _ in counts)
    return done / seconds, sum(cpu for _, cpu in counts) / max(1, done)


def _verify_for(code_hash: str, seconds: float) -> tuple[int, float]:
    hasher, done = _owasp(), 0
    cpu = time.process_time()
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        hasher.verify(code_hash, CODE)
        done += 1
    return done, time.process_time() - cpu


def _round(load: Any, spent: Any, answered: Any, argon2: Any, duration: int) -> dict[str, Any]:
    """One round: bare argon2id for half the load's time, then the load; its checks, CPU by process and
    the responder's CPU inside argon2."""
    bare_before = bare_argon2_rate(duration / 2)
    before, first, argon2_before = spent(), answered.value, argon2.value
    rate = load()
    after = spent()
    return {
        "bare_before": bare_before,
        "rate": rate,
        "checks": max(1, answered.value - first),
        "cpu": {name: after[name] - before[name] for name in after},
        "argon2": argon2.value - argon2_before,
    }


def rpc_round_trips(broker_url: str, count: int) -> list[float]:
    from polis.rpc import RpcClient

    client = RpcClient(broker_url, timeout=10)
    payload = {"account_id": str(uuid.uuid4()), "personal_code": CODE}
    for _ in range(50):
        client.call(METHOD, payload)
    times = []
    for _ in range(count):
        started = time.perf_counter()
        client.call(METHOD, payload)
        times.append(time.perf_counter() - started)
    client.close()
    return times


def _echo(broker_url: str, ready: Any, stop: Any) -> None:
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(broker_url))
    channel = connection.channel()
    channel.queue_declare("bench.echo")

    def on_message(ch: Any, method: Any, properties: Any, body: bytes) -> None:
        ch.basic_publish(
            "", properties.reply_to, body, pika.BasicProperties(correlation_id=properties.correlation_id)
        )
        ch.basic_ack(method.delivery_tag)

    channel.basic_consume("bench.echo", on_message)
    ready.set()
    while not stop.is_set():
        connection.process_data_events(time_limit=0.2)
    connection.close()


def bare_round_trips(broker_url: str, count: int) -> list[float]:
    import pika

    ready, stop = multiprocessing.Event(), multiprocessing.Event()
    echo = multiprocessing.Process(target=_echo, args=(broker_url, ready, stop))
    echo.start()
    ready.wait(30)
    connection = pika.BlockingConnection(pika.URLParameters(broker_url))
    channel = connection.channel()
    answers: dict[str, bytes] = {}
    channel.basic_consume(
        "amq.rabbitmq.reply-to", lambda ch, m, p, b: answers.__setitem__(p.correlation_id, b), auto_ack=True
    )
    times = []
    for n in range(count + 50):
        cid = str(n)
        started = time.perf_counter()
        channel.basic_publish(
            "",
            "bench.echo",
            b'{"q":1}',
            pika.BasicProperties(reply_to="amq.rabbitmq.reply-to", correlation_id=cid),
        )
        while cid not in answers:
            connection.process_data_events(time_limit=1)
        if n >= 50:
            times.append(time.perf_counter() - started)
    connection.close()
    stop.set()
    echo.join(10)
    return times


def start_profiles(work: Path, pids: dict[str, tuple[int, bool]]) -> list[subprocess.Popen[bytes]]:
    """P7_PYSPY=out.txt: py-spy on each named pid (with its subprocesses when asked), idle included."""
    out = os.environ.get("P7_PYSPY")
    if not out:
        return []
    spy = Path(sys.executable).with_name("py-spy")
    target = Path(out)
    children = []
    for name, (pid, subprocesses) in pids.items():
        path = target.with_name(f"{target.stem}-{name}{target.suffix or '.txt'}")
        command = [
            str(spy),
            "record",
            "--nonblocking",
            "--idle",
            "--format",
            "raw",
            "-o",
            str(path),
            "--pid",
            str(pid),
        ]
        if subprocesses:
            command.append("--subprocesses")
        log = open(work / f"p7-py-spy-{name}.log", "wb")  # noqa: SIM115 - the child's output, for its life
        children.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT))
    time.sleep(1.0)  # py-spy attaches before the load starts
    return children


def stop_profiles(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        child.send_signal(signal.SIGINT)  # py-spy writes what it sampled so far
    for child in children:
        child.wait(timeout=60)


# Functions a thread waits in (for the broker, the database, a lock, another thread): idle, not busy.
IDLE_LEAVES = {
    "poll", "select", "wait", "_wait_for_tstate_lock", "acquire", "recv_into", "accept", "sleep",
    "_worker", "wait_for_signals",
}  # fmt: skip


def summary(path: Path, top: int = 25) -> str:
    """The functions of a raw py-spy profile by share of the samples: on the stack (total) and on top
    (self), leaving out the samples of threads that were idle (waiting in select, on a lock, on a socket)."""
    total: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    samples = idle = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        samples += n
        if frames[-1].partition(" (")[0].rpartition(".")[2] in IDLE_LEAVES:
            idle += n
            continue
        for frame in set(frames):
            total[frame] += n
        own[frames[-1]] += n
    busy = samples - idle
    lines = [f"{path.name}: {samples} samples, {busy} busy ({busy / max(1, samples):.0%}), {idle} idle"]
    lines.append("self% of busy, function")
    lines += [f"{n / max(1, busy):6.1%}  {frame}" for frame, n in own.most_common(top)]
    lines.append("total% of busy (on the stack), function")
    lines += [f"{n / max(1, busy):6.1%}  {frame}" for frame, n in total.most_common(top)]
    return "\n".join(lines)


def _spent(app: int, responder: int, rabbit: Any, pg: Any) -> dict[str, float]:
    """CPU seconds so far of the app's process group, the responder, the broker's process group and
    PostgreSQL (when known)."""
    spent = {"app": cpu_seconds(group=app), "responder": process_cpu(responder)}
    node = getattr(rabbit, "_process", None)
    if node is not None:
        spent["broker"] = cpu_seconds(group=node.pid)
    if pg is not None:
        postmaster = int((Path(pg.data_dir) / "postmaster.pid").read_text().split()[0])
        spent["postgresql"] = cpu_seconds(parent=postmaster)
    return spent


def _p99(values: list[float]) -> float:
    return sorted(values)[int(len(values) * 0.99) - 1]


def bench_rpc(
    work: Path,
    *,
    database_url: str,
    duration: int,
    connections: int,
    rabbit: Any,
    gunicorn_args: str,
    pg: Any = None,
) -> list[Result]:
    logs = work / "logs"
    logs.mkdir(exist_ok=True)
    os.environ["POLIS_ENV"] = "test"  # the development RPC keys: the bench seals with them like make run
    ids = seed(database_url)
    (work / "p7_accounts.txt").write_text("\n".join(ids))
    results = []
    ctx = multiprocessing.get_context("spawn")
    stop = ctx.Event()
    answered = ctx.Value("q", 0)
    argon2 = ctx.Value("d", 0.0)
    responder = ctx.Process(target=serve, args=(rabbit.url, database_url, False, stop, answered, argon2))
    responder.start()
    assert responder.pid is not None
    responder_pid = responder.pid
    port = free_port()
    env = {
        "POLIS_ENV": "test",
        "POLIS_BROKER_URL": rabbit.url,
        "P7_ACCOUNTS": str(work / "p7_accounts.txt"),
        "GUNICORN_CMD_ARGS": gunicorn_args,
        "PYTHONPATH": str(Path(__file__).parent),  # p7_app; polis and enablement are installed
    }
    gunicorn = str(ROOT / ".venv" / "bin" / "gunicorn")
    try:
        with process(
            "p7-app",
            [gunicorn, "--bind", f"127.0.0.1:{port}", "p7_app:app"],
            cwd=Path(__file__).parent,
            env=env,
            logs=logs,
        ) as app:
            wait_http(f"http://127.0.0.1:{port}/check", app, logs / "p7-app.log", timeout=60)
            spies = start_profiles(work, {"responder": (responder_pid, False), "app": (app.pid, True)})
            try:
                rounds = [
                    _round(
                        lambda: wrk(
                            f"http://127.0.0.1:{port}/check",
                            duration=duration,
                            connections=connections,
                            servers=(app.pid,),
                            timeout=10,  # the app's RPC timeout: a slow check on a busy machine is no error
                        )[0],
                        lambda: _spent(app.pid, responder_pid, rabbit, pg),
                        answered,
                        argon2,
                        duration,
                    )
                    for _ in range(ROUNDS)
                ]
            finally:
                stop_profiles(spies)
            closing = bare_argon2_rate(duration / 2)
    finally:
        stop.set()
        responder.join(20)
    # Each round's bare rate is the mean of the bare runs just before and just after its load: other work
    # on the machine moves both alike (COMMON: interleave, report ratios).
    bares = [r["bare_before"] for r in rounds] + [closing]
    for n, measured in enumerate(rounds):
        measured["bare"] = (bares[n][0] + bares[n + 1][0]) / 2
    rate = statistics.mean(r["rate"] for r in rounds)
    bare = statistics.mean(r["bare"] for r in rounds)
    checks = sum(r["checks"] for r in rounds)
    cpu = {name: sum(r["cpu"][name] for r in rounds) / checks * 1000 for name in rounds[0]["cpu"]}
    bare_cpu = statistics.mean(cpu_per for _, cpu_per in bares) * 1000
    inside = sum(r["argon2"] for r in rounds) / checks * 1000
    results.append(
        Result(
            "P7 personal-code checks over RPC (gunicorn)",
            rate,
            "/s",
            "bare argon2id verify, 2 processes",
            bare,
            ">= 0.80",
            "ratio by round "
            + ", ".join(f"{r['rate'] / r['bare']:.2f} ({r['rate']:.0f}/{r['bare']:.0f})" for r in rounds)
            + f"; CPU per check {sum(cpu.values()):.1f} ms ("
            + ", ".join(f"{name} {spent:.1f}" for name, spent in cpu.items())
            + f") vs bare {bare_cpu:.1f} ms per verify; argon2 in the responder {inside:.1f} ms per check;"
            + " CPU per check by round "
            + ", ".join(f"{sum(r['cpu'].values()) / r['checks'] * 1000:.1f}" for r in rounds)
            + f" ms; {checks:,} checks, {connections} wrk connections",
        )
    )
    stop = ctx.Event()
    noop = ctx.Process(target=serve, args=(rabbit.url, database_url, True, stop))
    noop.start()
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                rpc = rpc_round_trips(rabbit.url, 2000)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    finally:
        stop.set()
        noop.join(20)
    bare_rt = bare_round_trips(rabbit.url, 2000)
    results.append(
        Result(
            "P7 RPC round trip without argon2 (median)",
            statistics.median(rpc) * 1e6,
            "us",
            "bare pika direct reply-to round trip",
            statistics.median(bare_rt) * 1e6,
            "(lower is better)",
            f"p99 {_p99(rpc) * 1e6:,.0f} us vs bare {_p99(bare_rt) * 1e6:,.0f} us",
        )
    )
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--summary", type=Path, help="summarise a raw py-spy profile of P7_PYSPY")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    if args.summary:
        print(summary(args.summary, args.top))
    else:
        print("run it through tests/bench/run.py --only p7")
