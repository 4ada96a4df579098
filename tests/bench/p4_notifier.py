"""P4 of `make bench`: emails per second from event published to SMTP accepted, through the notifier worker.

Path measured: pika publish (asynchronous confirms) -> RabbitMQ -> notifier worker (consumer: read model,
delivery rows; its sender process: claim, render, compose, SMTP over kept-open connections, mark sent) ->
an aiosmtpd sink in its own process that only counts. Baseline, same run, same sink, same number of
connections: raw smtplib sends of an already built message of the same size, no broker, no database. Every
published event must be accepted once: the sink's count and the delivery log's `sent` rows both equal the
number published. The detail also gives the CPU milliseconds per email of each notifier process (and of
the sink) over the measure: on a shared machine the rate moves with the load, these barely do.

Alone: .venv/bin/python tests/bench/p4_notifier.py [--emails 5000] [--databases sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import smtplib
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench_common import (
    CLOCK_TICKS,
    ROOT,
    VENV_BIN,
    Result,
    process,
    publish_events,
    relay_properties,
    stat_fields,
    wait_for_queue,
)
from polis.testing.postgres import PostgresCluster
from polis.testing.rabbitmq import RabbitMQNode
from polis.testing.smtp import SmtpSink

NOTIFIER = ROOT / "services" / "notifier"


EVENT_TYPE = "iam.password_changed"


def raw_smtp_rate(host: str, port: int, *, count: int, connections: int, size: int) -> float:
    """Messages/s of plain smtplib over `connections` kept-open connections, messages built in advance."""
    line = b"x" * 75 + b"\r\n"
    body = b"Subject: raw\r\nFrom: bench@localhost\r\nTo: r@example.org\r\n\r\n" + line * (size // len(line))
    share = count // connections
    ready = threading.Barrier(connections + 1)

    def send() -> None:
        connection = smtplib.SMTP(host, port, timeout=30)
        ready.wait()
        for _ in range(share):
            connection.sendmail("bench@localhost", ["r@example.org"], body)
        connection.quit()

    threads = [threading.Thread(target=send) for _ in range(connections)]
    for thread in threads:
        thread.start()
    ready.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return share * connections / (time.perf_counter() - started)


def publish(url: str, events: list[Any]) -> None:
    """Persistent messages with the envelope, as a relay publishes them (blocking: each confirm awaited)."""
    from polis.events import broker

    publish_events(url, events, bind_to=broker.main_queue("notifier"))


def session_cpu(session_ids: list[int]) -> dict[str, float]:
    """CPU seconds (user + system) of every live process of these sessions, by `<pid> <command>`.

    Each worker is started in its own session, so its sender processes are counted with it. Linux only
    (/proc); elsewhere the figures are empty.
    """
    found: dict[str, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = stat_fields(int(entry.name))
        # fields[3] is the session id; [11], [12] utime and stime; [13], [14] of reaped children.
        if fields is None or int(fields[3]) not in session_ids:
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        command = " ".join(part.decode(errors="replace") for part in argv[1:4] if part)
        name = Path(f"/proc/{entry.name}/comm").read_text().strip() if (entry / "comm").exists() else ""
        if name and not argv[0].decode(errors="replace").endswith(name):
            command = f"{command} [{name}]"  # a forked child that named itself, e.g. notifier-sender
        ticks = sum(int(value) for value in fields[11:15])
        found[f"{entry.name} {command}"] = ticks / CLOCK_TICKS
    return found


def sink_sessions(sink: SmtpSink) -> list[int]:
    process = getattr(sink, "_process", None)  # the sink's child process, when it exposes it
    return [process.pid] if process is not None else []


def cpu_per_email(before: dict[str, float], after: dict[str, float], count: int) -> str:
    """`pid command: x.xx ms` for each process, CPU spent during the measure divided by the emails."""
    parts = []
    for name, seconds in sorted(after.items()):
        spent = seconds - before.get(name, 0.0)
        parts.append(f"{name}: {spent * 1000 / count:.2f}")
    return "; ".join(parts)


def publish_burst(url: str, events: list[Any]) -> None:
    """The measured burst, with asynchronous publisher confirms: every event is in the queue on return.

    Unconfirmed, a quorum queue on a loaded machine may drop a few messages (seen: 57 of 15,000), which
    the count check then blames on the notifier; a blocking publisher would measure itself instead.
    """
    import pika
    from polis.events import broker

    connection = pika.SelectConnection(pika.URLParameters(url))
    # Delivery tag -> event, in publishing order (tags grow by one per message on a confirming channel).
    outstanding: dict[int, Any] = {}
    nacked: list[Any] = []
    tags = itertools.count(1)

    def on_open(conn: pika.SelectConnection) -> None:
        conn.channel(on_open_callback=on_channel)

    def on_channel(channel: Any) -> None:
        channel.confirm_delivery(lambda frame: on_confirm(channel, frame))
        send(channel, events)

    def send(channel: Any, batch: list[Any]) -> None:
        for event in batch:
            channel.basic_publish(broker.EXCHANGE, event.type, event.to_json(), relay_properties(event))
            outstanding[next(tags)] = event

    def on_confirm(channel: Any, frame: Any) -> None:
        method = frame.method
        if method.multiple:
            done = list(itertools.takewhile(lambda tag: tag <= method.delivery_tag, outstanding))
        else:
            done = [method.delivery_tag]
        for tag in done:
            event = outstanding.pop(tag, None)
            if event is not None and isinstance(method, pika.spec.Basic.Nack):
                nacked.append(event)
        if not outstanding:
            if nacked:
                again = list(nacked)
                nacked.clear()
                send(channel, again)  # a nacked message is published again, like the relay does
            else:
                connection.close()

    connection.add_on_open_callback(on_open)
    connection.add_on_close_callback(lambda _conn, _reason: connection.ioloop.stop())
    connection.ioloop.start()
    if outstanding:
        raise SystemExit(f"P4: {len(outstanding)} events left unconfirmed by the broker")


def count_rows(url: str, query: str) -> int:
    from polis.db import Database
    from sqlalchemy import text

    database = Database(url)
    try:
        with database.engine.connect() as connection:
            return int(connection.execute(text(query)).scalar_one())
    finally:
        database.dispose()


def sent_rows(url: str) -> int:
    return count_rows(url, "SELECT count(*) FROM deliveries WHERE state = 'sent'")


def bench_notifier(
    work: Path,
    *,
    count: int,
    database: str,
    rabbit: RabbitMQNode,
    pg: PostgresCluster | None,
    workers: int = 1,
    connections: int = 4,
) -> Result:
    """One P4 figure."""
    from notifier.samples import account_registered, message_event
    from polis.migrations import upgrade

    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    if database == "postgresql":
        assert pg is not None
        url = pg.create_database(f"bench_notifier_{os.getpid()}")
    else:
        url = f"sqlite:///{work}/bench_notifier_{os.getpid()}.sqlite3"
    upgrade(str(NOTIFIER / "alembic.ini"), url)
    vhost_url = rabbit.url

    with SmtpSink(work / f"sink-{database}", discard=True) as sink:
        account = account_registered()
        sample = message_event(EVENT_TYPE, account.data["account_id"])
        env = {
            **os.environ,
            "POLIS_ENV": "dev",
            "POLIS_VAR_DIR": str(work / "var"),
            "POLIS_BROKER_URL": vhost_url,
            "NOTIFIER_DATABASE_URL": url,
            "NOTIFIER_SMTP_HOST": sink.host,
            "NOTIFIER_SMTP_PORT": str(sink.port),
            "NOTIFIER_SMTP_CONNECTIONS": str(connections),
            "NOTIFIER_SEND_BATCH_SIZE": "200",
            "NOTIFIER_SENT_FLUSH_EVERY": "25",
            "NOTIFIER_SEND_POLL_INTERVAL": "0.05",
            "NOTIFIER_LOG_LEVEL": "WARNING",
        }
        with contextlib.ExitStack() as running:
            # Each worker in its own session and process group (bench_common.process), stopped with it.
            children = [
                running.enter_context(
                    process(
                        f"notifier-worker-{database}-{number}",
                        [str(VENV_BIN / "python"), "-m", "notifier.worker"],
                        cwd=NOTIFIER,
                        env=env,
                        logs=logs,
                    )
                )
                for number in range(workers)
            ]
            wait_for_queue(vhost_url, "notifier.events")
            publish(vhost_url, [account])
            # The account fact lands first: not part of the measure.
            deadline = time.monotonic() + 60
            while count_rows(url, "SELECT count(*) FROM accounts") < 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            events = [message_event(EVENT_TYPE, account.data["account_id"]) for _ in range(count)]
            # Each worker and the sink run in their own session (start_new_session): their processes.
            sessions = [child.pid for child in children] + sink_sessions(sink)
            cpu_before = session_cpu(sessions)
            started = time.perf_counter()
            publish_burst(vhost_url, events)
            published = time.perf_counter() - started
            deadline = time.monotonic() + 600
            while sink.count() < count and time.monotonic() < deadline:
                time.sleep(0.01)
            elapsed = time.perf_counter() - started
            cpu = cpu_per_email(cpu_before, session_cpu(sessions), count)
            for child in children:
                if child.poll() is not None:
                    raise SystemExit(f"a notifier worker exited with {child.returncode}; logs in {logs}")
            # Settle: a late duplicate would show here.
            deadline = time.monotonic() + 30
            while sent_rows(url) < count and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(0.5)
            received, sent = sink.count(), sent_rows(url)
        if received != count or sent != count:
            raise SystemExit(f"P4: {count} published, {received} accepted by the sink, {sent} marked sent")
        size = len(sample.to_json()) * 4  # roughly a rendered text + HTML email
        raw = raw_smtp_rate(sink.host, sink.port, count=count, connections=connections, size=size)

    return Result(
        name=f"P4 event -> SMTP accepted ({database})",
        value=count / elapsed,
        unit="emails/s",
        baseline_name=f"raw smtplib to the same sink, {connections} connections",
        baseline=raw,
        goal=">= 1,000 emails/s",
        detail=f"{count} {EVENT_TYPE} events, {received} accepted once each; {workers} worker(s) x "
        f"{connections} SMTP connections; publishing took {published:.1f} s of {elapsed:.1f} s; "
        f"CPU ms per email by process: {cpu}",
    )


def bench_p4(
    work: Path, *, count: int, databases: list[str], workers: int = 1, connections: int = 4
) -> list[Result]:
    """P4 on each database in turn, with one private RabbitMQ node (and one PostgreSQL cluster if asked)."""
    optional_pg = PostgresCluster() if "postgresql" in databases else contextlib.nullcontext()
    with RabbitMQNode(work / "rabbitmq-p4") as rabbit, optional_pg as pg:
        rabbit.wait_ready()
        return [
            bench_notifier(
                work,
                count=count,
                database=database,
                rabbit=rabbit,
                pg=pg,
                workers=workers,
                connections=connections,
            )
            for database in databases
        ]


def main() -> int:
    import tempfile

    from run import report

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--emails", type=int, default=5000)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--connections", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="polis-bench-p4-") as tmp:
        results = bench_p4(
            Path(tmp),
            count=args.emails,
            databases=args.databases.split(","),
            workers=args.workers,
            connections=args.connections,
        )
    report(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
