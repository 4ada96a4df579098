"""How an RPC connection writes and reads: a message in one send, input straight to pika's frame handling.

pika sends each frame of a message on its own (a publish is a method, a header and a body frame), and it
never writes when asked to: it buffers, registers the socket with its poller for writability (an
`epoll.modify`), polls, sends, and unregisters it (another `epoll.modify`). On the loopback every send also
runs the receiver's side of TCP on the sender's CPU. An RPC call writes one small message and then waits
for one, so all of that is overhead on every call (P7 of `make bench`, docs/performance.md).

`write_through(connection)` changes only that: a message's frames are joined and sent at once when nothing
is waiting in pika's buffer; whatever the socket does not take (a full send buffer) is left to pika's own
buffering, in order, and an error on the socket is left to pika too (its next write or read closes the
connection the way it always does). `held(connection)` keeps the writes of a block together and sends them
in one piece at its end (the responder's reply and its ack). The bytes and their order are unchanged; a pika
without these internals (another adapter, TLS) is left as it is.

Reading has the same overhead the other way: `process_data_events(time_limit)` makes a timer, runs pika's
event loop (its poller, its callbacks, its timers) until the timer or an event, and only then dispatches the
deliveries. `pump(connection, timeout)` waits for the socket with a `poll` of its own, lets pika's transport
read what arrived and turn it into frames as it always does, runs pika's due timers and callbacks (the
heartbeat, a lost connection's handling) and dispatches the channels' deliveries and returns: the same
callbacks in the same order, about a sixth less CPU per call for an RPC client (P7, docs/performance.md).
With nothing to read it runs pika's own `process_data_events(0)`; a connection pika cannot be read that way
is served by `process_data_events` itself.

`publish(channel, ...)` and `ack(channel, tag)` write what pika's `basic_publish` and `basic_ack` would, the
same frames byte for byte, without pika's frame and method objects, its properties object and its wait for
the output to drain (which `write_through` has already sent): about a fifth of an RPC call's CPU on each side
was pika building those objects (P7, docs/performance.md). On a channel or connection that is not open, or
a connection without `write_through`, they are pika's own calls, with pika's errors.
"""

from __future__ import annotations

import contextlib
import select
import struct
from collections.abc import Iterator, Sequence
from typing import Any

import pika
from pika.adapters.utils.io_services_utils import _AsyncPlaintextTransport

_TRY_AGAIN = (BlockingIOError, InterruptedError)


class _Writer:
    """The write path of one connection's plaintext transport (installed by write_through)."""

    def __init__(self, impl: Any, transport: _AsyncPlaintextTransport) -> None:
        self._impl = impl
        self._transport = transport
        self._buffered_write = transport.write
        self._held: list[bytes] | None = None

    def frames(self, marshaled: Sequence[bytes]) -> None:
        """pika's `_output_marshaled_frames`: the frames of one message, counted as pika counts them."""
        self._impl.frames_sent += len(marshaled)
        data = marshaled[0] if len(marshaled) == 1 else b"".join(marshaled)
        self._impl.bytes_sent += len(data)
        self.write(data)

    def write(self, data: bytes) -> None:
        if self._held is not None:
            self._held.append(data)
            return
        transport = self._transport
        if transport._state == transport._STATE_ACTIVE and not transport._tx_buffers:
            try:
                sent = transport._sock.send(data)  # type: ignore[union-attr]
            except _TRY_AGAIN:
                sent = 0
            except OSError:
                sent = 0  # pika's buffered write meets the same error and closes the connection
            if sent == len(data):
                return
            data = data[sent:]
        self._buffered_write(data)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        if self._held is not None:  # already inside a held block: the outer one sends
            yield
            return
        self._held = []
        try:
            yield
        finally:
            pieces, self._held = self._held, None
            if pieces:
                self.write(b"".join(pieces))


def write_through(connection: pika.BlockingConnection) -> None:
    """Install the one-send write path on a blocking connection (see the module's text)."""
    impl = getattr(connection, "_impl", None)
    transport = getattr(impl, "_transport", None)
    if not isinstance(transport, _AsyncPlaintextTransport) or not hasattr(impl, "_output_marshaled_frames"):
        return
    writer = _Writer(impl, transport)
    impl._output_marshaled_frames = writer.frames  # type: ignore[union-attr]
    transport.write = writer.write  # type: ignore[method-assign]
    connection._polis_writer = writer  # type: ignore[attr-defined]


@contextlib.contextmanager
def held(connection: pika.BlockingConnection) -> Iterator[None]:
    """Send what the block writes in one piece at its end (as it is, without write_through)."""
    writer: _Writer | None = getattr(connection, "_polis_writer", None)
    if writer is None:
        yield
        return
    with writer.held():
        yield


class _Reader:
    """The read side of one connection's plaintext transport: a poll on its socket, pika's frame handling."""

    def __init__(self, connection: pika.BlockingConnection, transport: _AsyncPlaintextTransport) -> None:
        self._connection = connection
        self._transport = transport
        self._poll = select.poll()
        self._poll.register(transport._sock.fileno(), select.POLLIN)  # type: ignore[union-attr]

    def pump(self, timeout: float) -> None:
        connection, transport = self._connection, self._transport
        if not self._poll.poll(max(0, int(timeout * 1000))) or transport._state != transport._STATE_ACTIVE:
            connection.process_data_events(time_limit=0)  # timers, a close in progress: pika's own way
            return
        transport._on_socket_readable()  # recv and frames, as pika's poller would have it do
        connection._impl.ioloop.process_timeouts()  # the heartbeat, callbacks such as a lost connection's
        if not connection.is_open:
            connection.process_data_events(time_limit=0)  # raises the connection's closing reason
            return
        connection._dispatch_channel_events()
        if connection._ready_events:
            connection._dispatch_connection_events()


def pump(connection: pika.BlockingConnection, timeout: float) -> None:
    """Wait up to `timeout` seconds for input and dispatch what it brings (see the module's text)."""
    reader: _Reader | None = getattr(connection, "_polis_reader", None)
    if reader is None:
        impl = getattr(connection, "_impl", None)
        transport = getattr(impl, "_transport", None)
        if (
            not isinstance(transport, _AsyncPlaintextTransport)
            or getattr(transport, "_sock", None) is None
            or not hasattr(connection, "_dispatch_channel_events")
        ):
            connection.process_data_events(time_limit=timeout)
            return
        reader = _Reader(connection, transport)
        connection._polis_reader = reader  # type: ignore[attr-defined]
    reader.pump(timeout)


_FRAME_END = b"\xce"
_PUBLISH = struct.pack(">HHH", 60, 40, 0) + b"\x00"  # Basic.Publish, ticket 0, the default exchange ("")
_ACK = struct.pack(">HH", 60, 80)  # Basic.Ack
# Basic's property flags, in the order their values follow (AMQP 0-9-1).
_CONTENT_TYPE, _DELIVERY_MODE, _CORRELATION_ID, _REPLY_TO, _EXPIRATION = (
    1 << 15,
    1 << 12,
    1 << 10,
    1 << 9,
    1 << 8,
)


def _short(value: str) -> bytes:
    raw = value.encode()
    if len(raw) > 255:
        raise ValueError("an AMQP short string holds at most 255 bytes")
    return bytes((len(raw),)) + raw


def _frame(kind: int, channel: int, payload: bytes) -> bytes:
    return struct.pack(">BHI", kind, channel, len(payload)) + payload + _FRAME_END


def _fast(channel: Any) -> _Writer | None:
    """The writer of an open channel's open connection, when write_through installed one."""
    connection = channel.connection
    writer: _Writer | None = getattr(connection, "_polis_writer", None)
    if writer is None or not channel.is_open or not connection.is_open or channel._delivery_confirmation:
        return None
    return writer


def publish(
    channel: Any,
    routing_key: str,
    body: bytes,
    *,
    correlation_id: str | None,
    content_type: str = "application/json",
    reply_to: str | None = None,
    expiration: str | None = None,
    delivery_mode: int | None = None,
    mandatory: bool = False,
) -> None:
    """`channel.basic_publish("", routing_key, body, BasicProperties(...), mandatory)` (see the module)."""
    writer = _fast(channel)
    if writer is None:
        channel.basic_publish(
            "",
            routing_key,
            body,
            pika.BasicProperties(
                content_type=content_type,
                correlation_id=correlation_id,
                reply_to=reply_to,
                expiration=expiration,
                delivery_mode=delivery_mode,
            ),
            mandatory=mandatory,
        )
        return
    writer.frames(
        publish_frames(
            channel.channel_number,
            routing_key,
            body,
            body_max=channel.connection._impl._body_max_length,
            correlation_id=correlation_id,
            content_type=content_type,
            reply_to=reply_to,
            expiration=expiration,
            delivery_mode=delivery_mode,
            mandatory=mandatory,
        )
    )
    _drain(channel)


def publish_frames(
    number: int,
    routing_key: str,
    body: bytes,
    *,
    body_max: int,
    correlation_id: str | None,
    content_type: str,
    reply_to: str | None,
    expiration: str | None,
    delivery_mode: int | None,
    mandatory: bool,
) -> list[bytes]:
    """The frames of a Basic.Publish to the default exchange, as pika marshals them."""
    flags, values = _CONTENT_TYPE, [_short(content_type)]
    if delivery_mode is not None:
        flags |= _DELIVERY_MODE
        values.append(bytes((delivery_mode,)))
    if correlation_id is not None:
        flags |= _CORRELATION_ID
        values.append(_short(correlation_id))
    if reply_to is not None:
        flags |= _REPLY_TO
        values.append(_short(reply_to))
    if expiration is not None:
        flags |= _EXPIRATION
        values.append(_short(expiration))
    frames = [
        _frame(1, number, _PUBLISH + _short(routing_key) + (b"\x01" if mandatory else b"\x00")),
        _frame(2, number, struct.pack(">HHQH", 60, 0, len(body), flags) + b"".join(values)),
    ]
    return frames + [
        _frame(3, number, body[start : start + body_max]) for start in range(0, len(body), body_max)
    ]


def ack_frame(number: int, delivery_tag: int) -> bytes:
    """The frame of a Basic.Ack of one delivery, as pika marshals it."""
    return _frame(1, number, _ACK + struct.pack(">QB", delivery_tag, 0))


def ack(channel: Any, delivery_tag: int) -> None:
    """`channel.basic_ack(delivery_tag)` (see the module)."""
    writer = _fast(channel)
    if writer is None:
        channel.basic_ack(delivery_tag)
        return
    writer.frames([ack_frame(channel.channel_number, delivery_tag)])
    _drain(channel)


def _drain(channel: Any) -> None:
    # What the socket did not take at once (or a held block's writes, sent at its end) is pika's to send:
    # wait for it as pika's own publish does.
    writer: _Writer = channel.connection._polis_writer
    if writer._held is None and channel.connection._impl._get_write_buffer_size():
        channel._flush_output()
