"""Operator command for a service's parking queue: list, show and replay parked events."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

import pika
import pika.spec

from polis.events import broker

PARKED_HEADERS = (broker.HEADER_PARKED_REASON, broker.HEADER_PARKED_AT, broker.HEADER_SOURCE_QUEUE)


def _describe(properties: pika.spec.BasicProperties) -> dict[str, Any]:
    headers = properties.headers or {}
    return {
        "id": properties.message_id,
        "type": properties.type,
        "reason": headers.get(broker.HEADER_PARKED_REASON),
        "parked_at": headers.get(broker.HEADER_PARKED_AT),
        "attempt": headers.get(broker.HEADER_ATTEMPT, 0),
    }


def _peek(connection: pika.BlockingConnection, queue: str, limit: int) -> list[tuple[Any, Any, bytes]]:
    """Read up to limit messages without acking; closing the channel puts them back."""
    channel = connection.channel()
    found = []
    try:
        for _ in range(limit):
            method, properties, body = channel.basic_get(queue, auto_ack=False)
            if method is None:
                break
            found.append((method, properties, body))
    finally:
        channel.close()
    return found


def _replay(connection: pika.BlockingConnection, service: str, message_id: str | None) -> int:
    """Move parked messages (one id, or all) back to the main queue; return how many moved."""
    channel = connection.channel()
    channel.confirm_delivery()
    moved = 0
    queue = broker.parking_queue(service)
    try:
        # Walk the queue once (its current length): messages not chosen are requeued on channel close.
        total = channel.queue_declare(queue, passive=True).method.message_count
        for _ in range(total):
            method, properties, body = channel.basic_get(queue, auto_ack=False)
            if method is None:
                break
            if message_id is not None and properties.message_id != message_id:
                continue
            headers = {k: v for k, v in (properties.headers or {}).items() if k not in PARKED_HEADERS}
            headers[broker.HEADER_ATTEMPT] = 0
            properties.headers = headers
            properties.delivery_mode = pika.DeliveryMode.Persistent.value
            # Confirmed before the parked copy is acked: a crash here leaves a duplicate, never a loss.
            channel.basic_publish("", broker.main_queue(service), body, properties, mandatory=True)
            channel.basic_ack(method.delivery_tag)
            moved += 1
            if message_id is not None:
                break
    finally:
        channel.close()
    return moved


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m polis.events.parking", description=__doc__)
    parser.add_argument("--broker-url", default=os.environ.get("POLIS_BROKER_URL"))
    parser.add_argument("--service", required=True)
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="list parked messages")
    listing.add_argument("--limit", type=int, default=100)
    show = commands.add_parser("show", help="show one parked message with its body")
    show.add_argument("message_id")
    replay = commands.add_parser("replay", help="send parked messages back to the service's queue")
    replay.add_argument("message_id", nargs="?")
    replay.add_argument("--all", action="store_true")
    for sub in (listing, show, replay):
        # Accepted after the command too; SUPPRESS keeps a global --json from being reset to False.
        sub.add_argument(
            "--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output"
        )
    args = parser.parse_args(argv)
    if not args.broker_url:
        parser.error("--broker-url or POLIS_BROKER_URL is required")
    if args.command == "replay" and bool(args.message_id) == bool(args.all):
        parser.error("replay needs a MESSAGE_ID or --all")

    connection = pika.BlockingConnection(broker.connection_parameters(args.broker_url))
    try:
        queue = broker.parking_queue(args.service)
        if args.command == "list":
            rows = [_describe(p) for _m, p, _b in _peek(connection, queue, args.limit)]
            if args.json:
                print(json.dumps(rows))
            for row in [] if args.json else rows:
                print(f"{row['id']}  {row['type']}  {row['parked_at']}  {row['reason']}")
            return 0
        if args.command == "show":
            depth = connection.channel().queue_declare(queue, passive=True).method.message_count
            for _m, properties, body in _peek(connection, queue, depth):
                if properties.message_id == args.message_id:
                    row = _describe(properties) | {"body": json.loads(body)}
                    print(json.dumps(row, indent=None if args.json else 2))
                    return 0
            print(f"no parked message with id {args.message_id} in {queue}", file=sys.stderr)
            return 1
        moved = _replay(connection, args.service, None if args.all else args.message_id)
        if moved == 0 and not args.all:
            print(f"no parked message with id {args.message_id} in {queue}", file=sys.stderr)
            return 1
        print(json.dumps({"replayed": moved}) if args.json else f"replayed {moved} message(s)")
        return 0
    finally:
        connection.close()


if __name__ == "__main__":
    sys.exit(main())
