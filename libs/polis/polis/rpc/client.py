"""Asking another service a question inside a request: direct reply-to, a timeout, a channel a thread.

A call publishes `{"method", "payload"}` to the queue `rpc.<service>` of the method's owner with
`reply_to=amq.rabbitmq.reply-to` and waits on this thread's channel for the answer with its correlation id
(the request id, made unique per call). Replies carrying another id (a late answer to an earlier call that
timed out) are dropped, so no answer ever reaches the wrong caller: each thread's channel has its own
pseudo-queue, and one call at a time waits on it.

A BlockingConnection services heartbeats only while it is used, so a connection idle past the broker's
heartbeat timeout has been closed by the broker. Before publishing, the connection is checked without
blocking (a peek at its socket; pika reads only when something arrived); a dead one is replaced, and a
publish that fails on a connection error is retried once on a new connection. A request is never sent
twice once it has been published.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel

from polis.events.broker import connection_parameters
from polis.events.sealing import Sealer
from polis.requestid import current_request_id
from polis.rpc.contracts import contract
from polis.rpc.errors import RpcRemoteError, RpcUnavailable
from polis.rpc.keys import sealer_for
from polis.rpc.wire import publish, pump, write_through

REPLY_TO = "amq.rabbitmq.reply-to"
BROKEN = (pika.exceptions.AMQPError, OSError)


def queue_name(service: str) -> str:
    return f"rpc.{service}"


def owner_of(method: str) -> str:
    service, _, name = method.partition(".")
    if not service or not name:
        raise ValueError(f"an RPC method is '<service>.<name>', not {method!r}")
    return service


class _Line:
    """One thread's connection and channel, consuming its direct reply-to pseudo-queue."""

    def __init__(self, url: str, heartbeat: int | None) -> None:
        self.pid = os.getpid()
        self.connection = pika.BlockingConnection(connection_parameters(url, heartbeat=heartbeat))
        write_through(self.connection)
        self.channel: BlockingChannel = self.connection.channel()
        self.replies: dict[str, bytes] = {}
        self.returned: set[str] = set()
        self.channel.basic_consume(REPLY_TO, self._on_reply, auto_ack=True)
        self.channel.add_on_return_callback(self._on_return)

    def _on_reply(self, _channel: Any, _method: Any, properties: pika.BasicProperties, body: bytes) -> None:
        if properties.correlation_id:
            self.replies[properties.correlation_id] = body

    def _on_return(self, _channel: Any, _method: Any, properties: pika.BasicProperties, _body: bytes) -> None:
        if properties.correlation_id:  # no queue for the method's owner: nobody will ever answer
            self.returned.add(properties.correlation_id)

    def alive(self) -> bool:
        if self.pid != os.getpid() or not self.connection.is_open:
            return False
        if not self._has_input():  # open, and nothing (not even a close) arrived since the last call
            return True
        try:
            self.connection.process_data_events(time_limit=0)
        except BROKEN:
            return False
        return self.connection.is_open

    def _has_input(self) -> bool:
        """Whether the socket has something to read (or was closed): a peek, no pika machinery."""
        sock = getattr(getattr(getattr(self.connection, "_impl", None), "_transport", None), "_sock", None)
        if sock is None:
            return True
        try:
            sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return True  # pika finds out what happened
        return True  # a frame (a heartbeat, a late reply), or the end of the stream

    def close(self) -> None:
        if self.pid == os.getpid():
            try:
                if self.connection.is_open:
                    self.connection.close()
            except BROKEN:
                pass  # it was being thrown away


class RpcClient:
    """One per process; safe from any number of threads (each gets its own connection, opened lazily)."""

    def __init__(
        self,
        broker_url: str,
        *,
        timeout: float = 5.0,
        heartbeat: int | None = None,
        sealers: Mapping[str, Sealer] | None = None,
    ) -> None:
        self.broker_url = broker_url
        self.timeout = timeout
        self._heartbeat = heartbeat
        self._sealers: dict[str, Sealer] = dict(sealers or {})
        self._local = threading.local()

    def call(
        self, method: str, payload: Mapping[str, Any], *, timeout: float | None = None
    ) -> dict[str, Any]:
        """The owner's answer to `method` with `payload`; RpcUnavailable when none comes in time."""
        service = owner_of(method)
        rules = contract(method)
        rules.validate_request(dict(payload))
        wire = dict(payload)
        for name in rules.secret_fields:
            if name in wire:
                wire[name] = self._sealer(service).seal(wire[name])
        correlation_id = f"{current_request_id() or 'rpc'}:{uuid.uuid4().hex}"
        limit = self.timeout if timeout is None else timeout
        body = json.dumps({"method": method, "payload": wire}, separators=(",", ":")).encode()
        line = self._publish(service, correlation_id, body, limit)
        reply = self._wait(line, method, correlation_id, limit)
        if "error" in reply:
            error = reply["error"]
            raise RpcRemoteError(method, str(error.get("code")), str(error.get("message")))
        result: dict[str, Any] = reply["result"]
        rules.validate_reply(result)
        return result

    def close(self) -> None:
        """Close this thread's connection (tests, shutdown)."""
        line = getattr(self._local, "line", None)
        if line is not None:
            line.close()
            self._local.line = None

    def _sealer(self, service: str) -> Sealer:
        if service not in self._sealers:
            self._sealers[service] = sealer_for(service)
        return self._sealers[service]

    def _line(self, *, fresh: bool = False) -> _Line:
        line: _Line | None = getattr(self._local, "line", None)
        if line is not None and (fresh or not line.alive()):
            line.close()
            line = None
        if line is None:
            line = _Line(self.broker_url, self._heartbeat)
            self._local.line = line
        return line

    def _publish(self, service: str, correlation_id: str, body: bytes, limit: float) -> _Line:
        # A request nobody takes in time is dropped by the broker, never answered late.
        expiration = str(max(1, int(limit * 1000)))
        for attempt in (1, 2):
            try:
                line = self._line(fresh=attempt == 2)
                publish(
                    line.channel,
                    queue_name(service),
                    body,
                    correlation_id=correlation_id,
                    reply_to=REPLY_TO,
                    expiration=expiration,
                    delivery_mode=1,
                    mandatory=True,
                )
                return line
            except BROKEN as exc:
                if attempt == 2:
                    raise RpcUnavailable(service, f"broker unreachable: {type(exc).__name__}") from None
        raise AssertionError("unreachable")

    def _wait(self, line: _Line, method: str, correlation_id: str, limit: float) -> dict[str, Any]:
        deadline = time.monotonic() + limit
        try:
            while True:
                body = line.replies.pop(correlation_id, None)
                if body is not None:
                    line.replies.clear()  # whatever else is here answers calls that gave up
                    answer: dict[str, Any] = json.loads(body)
                    return answer
                if correlation_id in line.returned:
                    line.returned.discard(correlation_id)
                    raise RpcUnavailable(method, "no responder")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise RpcUnavailable(method, "timeout")
                pump(line.connection, min(remaining, 0.25))
        except BROKEN:
            line.close()
            self._local.line = None
            raise RpcUnavailable(method, "connection lost while waiting") from None
