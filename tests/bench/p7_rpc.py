"""P7 of `make bench`: personal-code checks over polis.rpc from a gunicorn service, and the RPC round trip.

Checks: a gunicorn app (the services' settings: 2 workers x 8 threads) answers each request by asking
`enablement.check_personal_code` over RabbitMQ; enablement's own handler (throttling, argon2id at the OWASP
parameters, its database) answers in a responder process with two threads. wrk drives the app. Baseline,
same run, same cores: bare argon2id verifies in two processes (goal: >= 0.80 of bare).
Round trip: one caller thread, a responder whose handler does nothing, median and p99 of a call, next to
a bare pika round trip (publish with direct reply-to, an echo consumer, no contract, no sealing).

Alone: .venv/bin/python tests/bench/p7_rpc.py [--duration 10]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
for path in (ROOT / "libs" / "polis", ROOT / "services" / "enablement", Path(__file__).resolve().parent):
    sys.path.insert(0, str(path))

CODE = "Codice2026bench"
ACCOUNTS = 256
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


def _owasp() -> Any:
    from argon2 import PasswordHasher

    return PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def serve(broker_url: str, database_url: str, noop: bool, stop: Any) -> None:
    """A responder process: enablement's handler on its database, or one that answers at once."""
    os.environ.setdefault("POLIS_ENV", "test")
    from polis.db import Database
    from polis.events.sealing import DEV_KEY_ID, DEV_PUBLIC_KEY, Sealer
    from polis.rpc import RpcResponder

    if noop:
        handlers = {METHOD: lambda payload: {"valid": False, "status": "not_enabled"}}
    else:
        from enablement.messaging import rpc
        from enablement.personal_codes.service import CodePolicy

        policy = CodePolicy(hasher=_owasp(), sealer=Sealer(DEV_PUBLIC_KEY, DEV_KEY_ID))
        handlers = rpc.handlers(db=Database(database_url), policy=policy)
    event = threading.Event()
    threading.Thread(target=lambda: (stop.wait(), event.set()), daemon=True).start()
    RpcResponder(broker_url, service="enablement", handlers=handlers, concurrency=2).run(event)


def bare_argon2_rate(seconds: float) -> float:
    """argon2id verifies per second in two processes (the cores), the same parameters as the handler."""
    code_hash = _owasp().hash(CODE)
    with multiprocessing.Pool(2) as pool:
        counts = pool.starmap(_verify_for, [(code_hash, seconds)] * 2)
    return sum(counts) / seconds


def _verify_for(code_hash: str, seconds: float) -> int:
    hasher, done = _owasp(), 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        hasher.verify(code_hash, CODE)
        done += 1
    return done


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


def _p99(values: list[float]) -> float:
    return sorted(values)[int(len(values) * 0.99) - 1]


def bench_rpc(
    work: Path,
    *,
    database_url: str,
    duration: int,
    connections: int,
    process: Any,
    wait_http: Any,
    wrk: Any,
    free_port: Any,
    make_result: Any,
    rabbit: Any,
    gunicorn_args: str,
) -> list[Any]:
    logs = work / "logs"
    logs.mkdir(exist_ok=True)
    os.environ["POLIS_ENV"] = "test"  # the development RPC keys: the bench seals with them like make run
    ids = seed(database_url)
    (work / "p7_accounts.txt").write_text("\n".join(ids))
    results = []
    ctx = multiprocessing.get_context("spawn")
    stop = ctx.Event()
    responder = ctx.Process(target=serve, args=(rabbit.url, database_url, False, stop))
    responder.start()
    port = free_port()
    env = {
        "POLIS_ENV": "test",
        "POLIS_BROKER_URL": rabbit.url,
        "P7_ACCOUNTS": str(work / "p7_accounts.txt"),
        "GUNICORN_CMD_ARGS": gunicorn_args,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "libs" / "polis"), str(Path(__file__).parent)]),
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
            rate, cpu = wrk(
                f"http://127.0.0.1:{port}/check",
                duration=duration,
                connections=connections,
                servers=(app.pid,),
            )
    finally:
        stop.set()
        responder.join(20)
    bare = bare_argon2_rate(float(duration))
    results.append(
        make_result(
            "P7 personal-code checks over RPC (gunicorn)",
            rate,
            "/s",
            "bare argon2id verify, 2 processes",
            bare,
            ">= 0.80",
            f"app CPU {cpu / 1000:.1f} ms per check",
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
        make_result(
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
    parser.add_argument("--duration", type=int, default=10)
    parser.parse_args()
    print("run it through tests/bench/run.py --only p7")
