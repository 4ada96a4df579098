"""`make bench`: throughput figures, each printed next to a baseline measured in the same run, and the ratio.

P1  GET through the gateway to a service, against a bare Flask hello under the services' gunicorn settings
    (goal: gateway >= 0.40 of bare). The gateway runs on its own server, gateway-web (Granian), with the
    same workers and threads.
P1-login  password logins per second through the gateway, the whole browser flow (authorize -> login form
    -> code -> token -> portal session) at the OWASP argon2 parameters, against the bare argon2 verify rate
    on the same cores (goal: >= 0.70 of bare); median and p99 latency at half that rate (p1_login.py).
P2  events per second from outbox rows to consumer commits, end to end, every event accounted for, against
    the broker's own ceiling: raw publish-with-confirms + consume-and-ack of the same number of messages
    with no database at all (goal: >= 1,000 events/s on 2 cores).
P3  client-credentials and refresh grants per second at IAM's token endpoint, next to node-oidc-provider
    configured like IAM under the same wrk load (goals: >= 240 grants/s per core, and >= node; grants per
    CPU-second of each server and the ratio; p3_grants.py).
P4  emails per second from event published to SMTP accepted through the notifier worker, against raw
    smtplib sends to the same counting sink (goal: >= 1,000 emails/s on 2 cores; p4_notifier.py).
P5  a revocation round over 2,000,000 accounts on PostgreSQL, half affected: preview, announcement into the
    outbox, execution and the worker's peak memory, next to bare SQL of the same work (p5_revocation.py).
P6  the deadline surge: users submit applications through the gateway (personal code over RPC, PDF/A receipt
    rendered, filed and emailed) against bare argon2id verify + receipt render on the same cores (goal: >=
    0.60 of bare); p50/p99 at half that rate; every submission accounted for (p6_deadline.py).
P7  personal-code checks per second over polis.rpc from a gunicorn service (enablement's own handler in a
    responder), against bare argon2id verifies on the same cores (goal: >= 0.80 of bare); the RPC round
    trip without argon2 (median, p99) next to a bare pika direct reply-to round trip (p7_rpc.py).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path

from bench_common import (
    ROOT,
    VENV_BIN,
    Result,
    free_port,
    gateway_server,
    gunicorn_service,
    process,
    wait_for_queue,
    wait_http,
    wrk,
)
from polis.testing.postgres import PostgresCluster
from polis.testing.rabbitmq import RabbitMQNode

# The same gunicorn settings for the baseline and for every service on the measured path.
GUNICORN_ARGS = "--workers 2 --threads 8 --worker-class gthread --keep-alive 30 --log-level warning"
# The gateway's own server (gateway-web, Granian) with the same processes and threads.
GATEWAY_SERVER_ENV = {"GATEWAY_WORKERS": "2", "GATEWAY_THREADS": "8"}


# --- P1: the gateway ------------------------------------------------------------------------------------


def bench_gateway(work: Path, *, duration: int, connections: int) -> Result:
    logs = work / "logs"
    logs.mkdir(exist_ok=True)
    base_env = {"POLIS_ENV": "dev", "POLIS_VAR_DIR": str(work / "var"), "GUNICORN_CMD_ARGS": GUNICORN_ARGS}
    hello_port, service_port, gateway_port = free_port(), free_port(), free_port()
    gunicorn = str(VENV_BIN / "gunicorn")

    with process(
        "bare-hello",
        [gunicorn, "--bind", f"127.0.0.1:{hello_port}", "hello_app:app"],
        cwd=ROOT / "tests" / "bench",
        env=base_env,
        logs=logs,
    ) as hello:
        url = f"http://127.0.0.1:{hello_port}/hello"
        wait_http(url, hello, logs / "bare-hello.log")
        bare, bare_cpu = wrk(url, duration=duration, connections=connections, servers=(hello.pid,))

    service_env = {
        **base_env,
        "ENABLEMENT_BIND": f"127.0.0.1:{service_port}",
        "POLIS_BROKER_URL": f"amqp://guest:guest@127.0.0.1:{free_port()}/%2F",  # not on this path
    }
    gateway_env = {
        **base_env,
        **GATEWAY_SERVER_ENV,
        "GATEWAY_BIND": f"127.0.0.1:{gateway_port}",
        "GATEWAY_ENABLEMENT_URL": f"http://127.0.0.1:{service_port}",
        # Rate limiting stays on (its cost is measured) with a limit one address cannot reach here.
        "GATEWAY_RATELIMIT_DEFAULT": "100000000 per minute",
    }
    with (
        gunicorn_service(
            "enablement",
            cwd=ROOT / "services" / "enablement",
            env=service_env,
            logs=logs,
            health_url=f"http://127.0.0.1:{service_port}/healthz",
        ) as service,
        gateway_server(env=gateway_env, logs=logs, url=f"http://127.0.0.1:{gateway_port}") as gateway,
    ):
        url = f"http://127.0.0.1:{gateway_port}/api/enablement/v1/"
        wait_http(url, gateway, logs / "gateway.log")
        through, through_cpu = wrk(
            url, duration=duration, connections=connections, servers=(gateway.pid, service.pid)
        )

    return Result(
        "P1 gateway -> service GET",
        through,
        "req/s",
        "bare Flask hello",
        bare,
        ">= 0.40 x bare",
        f"wrk -t2 -c{connections} -d{duration}s; bare and service: gunicorn {GUNICORN_ARGS}; gateway: "
        f"gateway-web (Granian) {GATEWAY_SERVER_ENV['GATEWAY_WORKERS']} workers x "
        f"{GATEWAY_SERVER_ENV['GATEWAY_THREADS']} threads; server CPU per request: "
        f"bare {bare_cpu:.0f} us, gateway + service {through_cpu:.0f} us "
        f"(CPU ratio {bare_cpu / through_cpu if through_cpu else 0:.2f})",
    )


# --- P2: outbox to consumer commit ----------------------------------------------------------------------

EVENTS_WORKER = r"""
import sys, threading, time
from sqlalchemy import MetaData, func, select
from polis.db import Database
from polis.events.consumer import Consumer, define_processed_events

db_url, broker_url, expected = sys.argv[1], sys.argv[2], int(sys.argv[3])
metadata = MetaData()
processed = define_processed_events(metadata)
db = Database(db_url)
metadata.create_all(db.engine)
stop = threading.Event()
handled = lambda session, event: None  # the commit of the processed-event row is the effect measured
consumer = Consumer(service="bench", db=db, table=processed, broker_url=broker_url,
                    handlers={"polis.test_happened": handled}, stop_event=stop)
thread = threading.Thread(target=consumer.run, daemon=True)
thread.start()
print("ready", flush=True)
deadline = time.monotonic() + 600
while time.monotonic() < deadline:
    with db.engine.connect() as connection:
        if connection.execute(select(func.count()).select_from(processed)).scalar_one() >= expected:
            break
    time.sleep(0.05)
stop.set()
thread.join(timeout=30)
"""


def bench_events(
    work: Path, *, count: int, database: str, rabbit: RabbitMQNode, pg: PostgresCluster | None
) -> Result:
    from polis.db import Database
    from polis.events import Event
    from polis.events.consumer import define_processed_events
    from polis.events.outbox import define_outbox
    from polis.events.relay import Relay
    from sqlalchemy import MetaData, func, insert, select

    def url_for(name: str) -> str:
        if database == "postgresql":
            assert pg is not None
            return pg.create_database(name)
        return f"sqlite:///{work}/{name}.sqlite3"

    producer_url, consumer_url = url_for("bench_producer"), url_for("bench_consumer")
    metadata = MetaData()
    outbox = define_outbox(metadata)
    producer = Database(producer_url)
    metadata.create_all(producer.engine)
    consumer_metadata = MetaData()
    define_processed_events(consumer_metadata)
    consumer_metadata.create_all(Database(consumer_url).engine)

    # Declare the consumer's queue before any event is relayed, so none is routed elsewhere.
    consumer = subprocess.Popen(
        [str(VENV_BIN / "python"), "-c", EVENTS_WORKER, consumer_url, rabbit.url, str(count)],
        stdout=subprocess.PIPE,
        env={**os.environ, "POLIS_ENV": "test"},
    )
    assert consumer.stdout is not None
    if consumer.stdout.readline().strip() != b"ready":
        raise SystemExit("the benchmark consumer did not start")
    wait_for_queue(rabbit.url, "bench.events")

    rows = []
    for n in range(count):
        event = Event.new("polis.test_happened", {"n": n}, producer="bench")
        rows.append(
            {
                "event_id": event.id,
                "event_type": event.type,
                "payload": event.to_json().decode(),
                "created_at": event.occurred_at,
                "attempts": 0,
            }
        )
    with producer.transaction() as session:
        session.execute(insert(outbox), rows)

    stop = threading.Event()
    relay = Relay(db=producer, table=outbox, broker_url=rabbit.url, stop_event=stop)
    started = time.perf_counter()
    relay_thread = threading.Thread(target=relay.run, daemon=True)
    relay_thread.start()
    consumer.wait(timeout=600)
    elapsed = time.perf_counter() - started
    stop.set()
    relay_thread.join(timeout=30)

    consumer_db = Database(consumer_url)
    processed = define_processed_events(MetaData())
    with consumer_db.engine.connect() as connection:
        handled = connection.execute(select(func.count()).select_from(processed)).scalar_one()
    with producer.engine.connect() as connection:
        unsent = connection.execute(
            select(func.count()).select_from(outbox).where(outbox.c.sent_at.is_(None))
        ).scalar_one()
    if handled != count or unsent:
        raise SystemExit(
            f"P2 lost events: {count} recorded, {handled} committed by the consumer, {unsent} unsent"
        )
    raw = raw_broker_rate(rabbit.url, count)
    return Result(
        f"P2 outbox -> consumer commit ({database})",
        count / elapsed,
        "events/s",
        "raw pika confirm+ack, no DB",
        raw,
        ">= 1,000 events/s",
        f"{count} events, {handled} committed once each, 0 unsent",
    )


def raw_broker_rate(url: str, count: int) -> float:
    """Messages/s through one quorum queue with asynchronous confirms and batched acks: the ceiling."""
    import pika

    queue = f"bench.raw.{os.getpid()}"
    body = json.dumps({"n": 0, "padding": "x" * 200}).encode()
    connection = pika.SelectConnection(pika.URLParameters(url))
    state = {"published": 0, "confirmed": 0, "consumed": 0, "started": 0.0, "elapsed": 0.0}

    def on_open(conn: pika.SelectConnection) -> None:
        conn.channel(on_open_callback=on_channel)

    def on_channel(channel: pika.channel.Channel) -> None:
        channel.queue_declare(
            queue, durable=True, arguments={"x-queue-type": "quorum"}, callback=lambda _f: go(channel)
        )

    def go(channel: pika.channel.Channel) -> None:
        channel.confirm_delivery(lambda frame: on_confirm(frame))
        channel.basic_qos(prefetch_count=500)
        channel.basic_consume(queue, lambda ch, method, _p, _b: on_message(ch, method))
        state["started"] = time.perf_counter()
        properties = pika.BasicProperties(delivery_mode=2, content_type="application/json")
        for _ in range(count):
            channel.basic_publish("", queue, body, properties)
            state["published"] += 1

    def on_confirm(frame: object) -> None:
        state["confirmed"] += 1

    def on_message(channel: pika.channel.Channel, method: pika.spec.Basic.Deliver) -> None:
        state["consumed"] += 1
        if state["consumed"] % 100 == 0 or state["consumed"] == count:
            channel.basic_ack(method.delivery_tag, multiple=True)
        if state["consumed"] == count:
            state["elapsed"] = time.perf_counter() - state["started"]
            channel.queue_delete(queue)
            connection.close()

    connection.add_on_open_callback(on_open)
    # A SelectConnection's loop outlives the connection unless told to stop when it closes.
    connection.add_on_close_callback(lambda _conn, _reason: connection.ioloop.stop())
    connection.ioloop.start()
    return count / state["elapsed"]


# --- main -----------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--only",
        default="p1,p1-login,p2,p3,p4,p5,p6,p7",
        help="comma-separated: p1,p1-login,p2,p3,p4,p5,p6,p7",
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per HTTP measurement")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--login-database", default="postgresql", help="P1-login: sqlite or postgresql")
    parser.add_argument("--login-agents", type=int, default=16, help="P1-login: concurrent browsers")
    parser.add_argument("--emails", type=int, default=5000, help="P4: events published")
    parser.add_argument("--notifier-workers", type=int, default=1, help="P4: notifier worker processes")
    parser.add_argument("--revocation-accounts", type=int, default=2_000_000, help="P5: accounts loaded")
    parser.add_argument("--revocation-batch", type=int, default=5000, help="P5: accounts per batch")
    args = parser.parse_args()
    wanted = set(args.only.split(","))
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="polis-bench-") as tmp:
        work = Path(tmp)
        if "p1" in wanted:
            results.append(bench_gateway(work, duration=args.duration, connections=args.connections))
        if "p1-login" in wanted:
            results.extend(bench_p1_login(work, args))
        if "p2" in wanted:
            databases = args.databases.split(",")
            optional_pg = PostgresCluster() if "postgresql" in databases else contextlib.nullcontext()
            with RabbitMQNode(work / "rabbitmq") as rabbit, optional_pg as pg:
                rabbit.wait_ready()
                for database in databases:
                    results.append(
                        bench_events(work, count=args.events, database=database, rabbit=rabbit, pg=pg)
                    )
        if "p3" in wanted:
            results.extend(bench_p3(work, args))
        if "p4" in wanted:
            results.extend(bench_p4(work, args))
        if "p5" in wanted:
            results.extend(bench_p5(work, args))
        if "p6" in wanted:
            results.extend(bench_p6(work))
        if "p7" in wanted:
            results.extend(bench_p7(work, args))
    report(results)
    return 0


def bench_p3(work: Path, args: argparse.Namespace) -> list[Result]:
    from p3_grants import bench_grants

    return bench_grants(
        work,
        duration=args.duration,
        connections=args.connections,
        databases=args.databases.split(","),
        postgres=lambda: PostgresCluster().start(),
    )


def bench_p4(work: Path, args: argparse.Namespace) -> list[Result]:
    from p4_notifier import bench_p4

    return bench_p4(
        work, count=args.emails, databases=args.databases.split(","), workers=args.notifier_workers
    )


def bench_p5(work: Path, args: argparse.Namespace) -> list[Result]:
    from p5_revocation import bench_revocation

    with PostgresCluster() as pg:
        return bench_revocation(work, count=args.revocation_accounts, batch_size=args.revocation_batch, pg=pg)


def bench_p6(work: Path) -> list[Result]:
    from p6_deadline import bench_deadline

    with PostgresCluster() as pg, RabbitMQNode(work / "rabbitmq-p6") as rabbit:
        rabbit.wait_ready()
        return bench_deadline(work, pg=pg, rabbit=rabbit)


def bench_p7(work: Path, args: argparse.Namespace) -> list[Result]:
    from p7_rpc import bench_rpc

    with PostgresCluster() as pg, RabbitMQNode(work / "rabbitmq-p7") as rabbit:
        rabbit.wait_ready()
        return bench_rpc(
            work,
            database_url=pg.create_database("bench_enablement"),
            duration=args.duration,
            # Enough callers to keep the responder's two threads busy; more would only queue.
            connections=8,
            rabbit=rabbit,
            gunicorn_args=GUNICORN_ARGS,
            pg=pg,
        )


def bench_p1_login(work: Path, args: argparse.Namespace) -> list[Result]:
    from p1_login import bench_login

    with PostgresCluster() if args.login_database == "postgresql" else contextlib.nullcontext() as pg:
        url = pg.create_database("bench_iam") if pg else f"sqlite:///{work}/bench_iam.sqlite3"
        return bench_login(
            work,
            duration=args.duration,
            agents=args.login_agents,
            database_url=url,
            database_label=args.login_database,
            gunicorn_args=GUNICORN_ARGS,
            postgres_data_dir=pg.data_dir if pg else None,
        )


def report(results: list[Result]) -> None:
    print()
    print(f"{'benchmark':42} {'figure':>14} {'baseline':>14} {'ratio':>7}  goal")
    for r in results:
        print(
            f"{r.name:42} {r.value:>10,.0f} {r.unit:<3} {r.baseline:>10,.0f} {'':3} {r.ratio:>7.2f}  {r.goal}"
            f"\n{'':42} baseline: {r.baseline_name}; {r.detail}"
        )
    out = ROOT / "var" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    (out / f"results-{stamp}.json").write_text(
        json.dumps([{**asdict(r), "ratio": r.ratio} for r in results], indent=2)
    )
    print(f"\nresults saved to var/bench/results-{stamp}.json")


if __name__ == "__main__":
    sys.exit(main())
