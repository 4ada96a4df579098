"""HTTP/1.1 keep-alive connections to the services: a small pool per thread, no locks, one send per request.

The gateway is on the path of every call, so its client is lean: the request goes out in one `sendall`, the
status line and headers are split by hand (http.client runs them through the email parser), and bodies are
streamed with Content-Length, chunked or read-to-close framing.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

# gunicorn closes an idle keep-alive connection after its `keepalive` seconds (2 by default); a request sent
# on a connection the service has just closed would fail, so idle ones older than this are not reused.
DEFAULT_MAX_IDLE_SECONDS = 1.5
MAX_IDLE_PER_ORIGIN = 4
MAX_HEAD_BYTES = 64 * 1024
RECV = 64 * 1024
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class UpstreamUnreachable(Exception):
    """The service refused or dropped the connection before answering."""


class UpstreamTimeout(Exception):
    """The service accepted the request but did not answer within the read timeout."""


class _Stale(Exception):
    """A kept-alive connection turned out to be closed before any byte of the answer arrived."""


@dataclass(frozen=True)
class Origin:
    """A service's base URL split once."""

    host: str
    port: int

    @classmethod
    def parse(cls, base_url: str) -> Origin:
        parts = urlsplit(base_url)
        if parts.scheme != "http":
            # Inside the cluster the services speak plain HTTP; TLS ends at the ingress.
            raise ValueError(f"service URLs must be http://, not {base_url!r}")
        return cls(parts.hostname or "127.0.0.1", parts.port or 80)


class Connection:
    """One socket to one service, with what was read past the end of the last answer."""

    def __init__(self, origin: Origin, *, connect_timeout: float, read_timeout: float) -> None:
        self.origin = origin
        self.sock = socket.create_connection((origin.host, origin.port), timeout=connect_timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(read_timeout)
        self.buffer = bytearray()
        self.idle_since = 0.0

    def close(self) -> None:
        self.sock.close()


class UpstreamResponse:
    """Status and headers of a service's answer; the body is read with `iter_body()` or `read()`."""

    def __init__(self, connection: Connection, method: str) -> None:
        self.connection = connection
        head = self._read_head()
        lines = head.decode("latin-1").split("\r\n")
        version, _, rest = lines[0].partition(" ")
        code, _, reason = rest.partition(" ")
        self.status = int(code)
        self.reason = reason or "Unknown"
        self.headers: list[tuple[str, str]] = []
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                self.headers.append((name.strip(), value.strip()))
        connection_header = (self.header("Connection") or "").lower()
        self.will_close = "close" in connection_header or (
            version == "HTTP/1.0" and "keep-alive" not in connection_header
        )
        self._remaining: int | None = None
        self._chunked = False
        if method == "HEAD" or self.status in (204, 304) or 100 <= self.status < 200:
            self._remaining = 0
        elif "chunked" in (self.header("Transfer-Encoding") or "").lower():
            self._chunked = True
        elif (length := self.header("Content-Length")) is not None:
            self._remaining = int(length)
        else:
            self.will_close = True  # the body ends when the service closes the connection

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return None

    def iter_body(self) -> Iterator[bytes]:
        if self._chunked:
            yield from self._chunks()
        elif self._remaining is not None:
            while self._remaining > 0:
                chunk = self._take(min(self._remaining, RECV))
                self._remaining -= len(chunk)
                yield chunk
        else:
            while chunk := self._take(RECV, allow_eof=True):
                yield chunk

    def read(self) -> bytes:
        return b"".join(self.iter_body())

    def _read_head(self) -> bytes:
        buffer = self.connection.buffer
        while (end := buffer.find(b"\r\n\r\n")) < 0:
            if len(buffer) > MAX_HEAD_BYTES:
                raise UpstreamUnreachable()
            data = self.connection.sock.recv(RECV)
            if not data:
                raise _Stale() if not buffer else UpstreamUnreachable()
            buffer += data
        head = bytes(buffer[:end])
        del buffer[: end + 4]
        return head

    def _take(self, size: int, *, allow_eof: bool = False) -> bytes:
        buffer = self.connection.buffer
        if not buffer:
            data = self.connection.sock.recv(RECV)
            if not data:
                if allow_eof:
                    return b""
                raise UpstreamUnreachable()
            buffer += data
        chunk = bytes(buffer[:size])
        del buffer[:size]
        return chunk

    def _line(self) -> bytes:
        buffer = self.connection.buffer
        while (end := buffer.find(b"\r\n")) < 0:
            data = self.connection.sock.recv(RECV)
            if not data:
                raise UpstreamUnreachable()
            buffer += data
        line = bytes(buffer[:end])
        del buffer[: end + 2]
        return line

    def _chunks(self) -> Iterator[bytes]:
        while True:
            size = int(self._line().split(b";", 1)[0], 16)
            if size == 0:
                while self._line():  # trailers, up to the empty line
                    pass
                return
            left = size
            while left:
                chunk = self._take(min(left, RECV))
                left -= len(chunk)
                yield chunk
            self._line()


@dataclass
class _ThreadPools(threading.local):
    idle: dict[Origin, list[Connection]] = field(default_factory=dict)


class ConnectionPools:
    """Per-thread pools of keep-alive connections (gthread runs a request on one thread from start to end)."""

    def __init__(self, *, connect_timeout: float, read_timeout: float, max_idle_seconds: float) -> None:
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_idle_seconds = max_idle_seconds
        self._local = _ThreadPools()
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        # A forked worker must never use the parent's sockets.
        self._local = _ThreadPools()

    def request(
        self, origin: Origin, method: str, target: str, headers: dict[str, str], body: bytes | None
    ) -> UpstreamResponse:
        """Send one request and read the answer's status and headers; the body is left to the caller."""
        payload = _serialise(origin, method, target, headers, body)
        connection = self._idle(origin)
        if connection is not None:
            try:
                return self._exchange(connection, method, payload)
            except _Stale:
                connection.close()
                # The service closed the kept-alive connection first: an idempotent request is sent again,
                # once, on a fresh connection. Others are not: the service may have seen them.
                if method not in IDEMPOTENT:
                    raise UpstreamUnreachable() from None
        try:
            connection = Connection(
                origin, connect_timeout=self.connect_timeout, read_timeout=self.read_timeout
            )
        except OSError:  # refused, unreachable, or no answer to the connect within connect_timeout
            raise UpstreamUnreachable() from None
        try:
            return self._exchange(connection, method, payload)
        except _Stale:
            connection.close()
            raise UpstreamUnreachable() from None

    def release(self, response: UpstreamResponse, *, reusable: bool) -> None:
        """Give the connection back once the answer was read to its end; otherwise close it."""
        connection = response.connection
        pool = self._local.idle.setdefault(connection.origin, [])
        if not reusable or response.will_close or len(pool) >= MAX_IDLE_PER_ORIGIN:
            connection.close()
            return
        connection.idle_since = time.monotonic()
        pool.append(connection)

    def _idle(self, origin: Origin) -> Connection | None:
        pool = self._local.idle.get(origin)
        now = time.monotonic()
        while pool:
            connection = pool.pop()
            if now - connection.idle_since < self.max_idle_seconds:
                return connection
            connection.close()
        return None

    @staticmethod
    def _exchange(connection: Connection, method: str, payload: bytes) -> UpstreamResponse:
        try:
            connection.sock.sendall(payload)
            return UpstreamResponse(connection, method)
        except TimeoutError:
            connection.close()
            raise UpstreamTimeout() from None
        except (ConnectionResetError, BrokenPipeError):
            raise _Stale() from None
        except (OSError, ValueError):
            connection.close()
            raise UpstreamUnreachable() from None


def _serialise(
    origin: Origin, method: str, target: str, headers: dict[str, str], body: bytes | None
) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {origin.host}:{origin.port}"]
    lines.extend(f"{name}: {value}" for name, value in headers.items())
    if body is not None or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body or b'')}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head + body if body else head
