"""Answering RPC calls in a service's worker: the queue `rpc.<service>`, handlers by method, replies by id.

Each of `concurrency` threads has its own connection consuming the queue with a prefetch of one, so a slow
call never holds back another thread's. The default is twice the argon2 computations the process may run
at once (polis.hashing bounds them to its cores): while one thread talks to the broker or the database,
another's argon2 keeps the core busy, and no more than the cores' worth run argon2 at once (measured in
P7 of `make bench`, docs/performance.md). POLIS_RPC_RESPONDER_THREADS sets it. A request
is acknowledged after its answer is published: a responder killed mid-call leaves it to another one (its
caller may have given up by then; its late answer is dropped by the caller's correlation check). Requests
carry a TTL of the caller's timeout, so a queue with no responder never answers a request nobody awaits.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

import pika
import pika.exceptions

from polis import hashing
from polis.config import Env
from polis.events.broker import connection_parameters
from polis.events.contracts import ContractViolation
from polis.events.sealing import Opener, SealError
from polis.requestid import bind
from polis.rpc.client import BROKEN, owner_of, queue_name
from polis.rpc.contracts import contract
from polis.rpc.keys import opener_for
from polis.rpc.wire import ack, held, publish, pump, write_through

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], dict[str, Any]]
RECONNECT_DELAYS = (0.5, 1.0, 2.0, 5.0)


def default_concurrency() -> int:
    """POLIS_RPC_RESPONDER_THREADS when set, else twice this process's argon2 bound (polis.hashing)."""
    threads = Env().int("POLIS_RPC_RESPONDER_THREADS", 2 * hashing.concurrency())
    if threads < 1:
        raise ValueError("POLIS_RPC_RESPONDER_THREADS must be at least 1")
    return threads


class RpcResponder:
    """Serves `handlers` ({method: handler(payload) -> reply}) until the stop event is set."""

    def __init__(
        self,
        broker_url: str,
        *,
        service: str,
        handlers: Mapping[str, Handler],
        concurrency: int | None = None,
        opener: Opener | None = None,
        heartbeat: int | None = None,
    ) -> None:
        for method in handlers:
            if owner_of(method) != service:
                raise ValueError(f"{service} cannot answer {method}: it belongs to another service")
            contract(method)  # a handler without a contract is a mistake found at start, not at call
        self.broker_url = broker_url
        self.service = service
        self.handlers = dict(handlers)
        self.concurrency = default_concurrency() if concurrency is None else concurrency
        self._opener = opener
        self._heartbeat = heartbeat
        self.ready = threading.Event()

    def run(self, stop_event: threading.Event) -> None:
        """Serve from `concurrency` threads; return when `stop_event` is set."""
        threads = [
            threading.Thread(
                target=self._serve, args=(stop_event,), name=f"rpc-{self.service}-{n}", daemon=True
            )
            for n in range(self.concurrency)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def answer(self, body: bytes) -> dict[str, Any]:
        """The reply document for one request body: {"result": ...} or {"error": {code, message}}."""
        try:
            request = json.loads(body)
            method = request["method"]
            payload = dict(request["payload"])
        except (ValueError, KeyError, TypeError):
            return _error("bad_request", "the request is not an RPC document")
        handler = self.handlers.get(method)
        if handler is None:
            return _error("unknown_method", f"{self.service} does not answer {method!r}")
        rules = contract(method)
        try:
            for name in rules.secret_fields:
                if name in payload:
                    payload[name] = self._open(payload[name])
            rules.validate_request(payload)
        except (SealError, ContractViolation) as exc:
            return _error("bad_request", str(exc))
        try:
            result = handler(payload)
            rules.validate_reply(result)
        except Exception:
            log.exception("rpc handler failed", extra={"method": method})
            return _error("internal", f"{method} failed")
        return {"result": result}

    def _open(self, value: Any) -> str:
        if self._opener is None:
            self._opener = opener_for(self.service)
        return self._opener.open(value)

    def _serve(self, stop: threading.Event) -> None:
        failures = 0
        while not stop.is_set():
            try:
                connection = pika.BlockingConnection(
                    connection_parameters(self.broker_url, heartbeat=self._heartbeat)
                )
            except BROKEN:
                stop.wait(RECONNECT_DELAYS[min(failures, len(RECONNECT_DELAYS) - 1)])
                failures += 1
                continue
            failures = 0
            write_through(connection)
            try:
                channel = connection.channel()
                channel.queue_declare(queue_name(self.service), durable=True)
                channel.basic_qos(prefetch_count=1)
                channel.basic_consume(queue_name(self.service), self._on_request)
                self.ready.set()
                while not stop.is_set():
                    pump(connection, 0.5)
            except BROKEN as exc:
                log.warning(
                    "rpc responder lost the broker, reconnecting", extra={"error": type(exc).__name__}
                )
            finally:
                try:
                    if connection.is_open:
                        connection.close()
                except BROKEN:
                    pass  # going away anyway

    def _on_request(self, channel: Any, delivery: Any, properties: pika.BasicProperties, body: bytes) -> None:
        request_id = (properties.correlation_id or "").partition(":")[0] or None
        with bind(request_id):
            reply = self.answer(body)
        # The reply and then the ack, in one send (polis.rpc.wire): a responder killed before it leaves the
        # request to another one.
        with held(channel.connection):
            if properties.reply_to:
                publish(
                    channel,
                    properties.reply_to,
                    json.dumps(reply, separators=(",", ":")).encode(),
                    correlation_id=properties.correlation_id,
                )
            ack(channel, delivery.delivery_tag)


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}
