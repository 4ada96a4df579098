"""Keep-alive connections to the services for the /api/ fast path: a small pool per thread, no locks."""

from __future__ import annotations

import http.client
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

# gthread handles each request on one thread from start to end, so a per-thread pool needs no lock and a
# connection is never shared. Idle connections older than this are dropped instead of reused: gunicorn
# closes a keep-alive connection after its own `keepalive` seconds (2 by default), and a request sent on a
# connection the service has just closed would fail.
DEFAULT_MAX_IDLE_SECONDS = 1.5
MAX_IDLE_PER_SERVICE = 4


class UpstreamUnreachable(Exception):
    """The service refused or dropped the connection before answering."""


class UpstreamTimeout(Exception):
    """The service accepted the request but did not answer within the read timeout."""


@dataclass
class _Idle:
    connection: http.client.HTTPConnection
    since: float


@dataclass
class Origin:
    """A service's base URL split once: scheme, host and port."""

    scheme: str
    host: str
    port: int

    @classmethod
    def parse(cls, base_url: str) -> Origin:
        parts = urlsplit(base_url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return cls(parts.scheme, parts.hostname or "127.0.0.1", port)


@dataclass
class _ThreadPools(threading.local):
    idle: dict[tuple[str, str, int], list[_Idle]] = field(default_factory=dict)


class ConnectionPools:
    """Per-thread pools of HTTP/1.1 keep-alive connections, keyed by origin."""

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
    ) -> tuple[http.client.HTTPResponse, http.client.HTTPConnection]:
        """Send one request and read the status and headers; the body is left to the caller."""
        connection = self._checkout(origin)
        reused = connection.sock is not None
        try:
            return self._send(connection, method, target, headers, body), connection
        except TimeoutError:
            connection.close()
            raise UpstreamTimeout() from None
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            connection.close()
            # A kept-alive connection the service closed in the meantime: the request never reached it,
            # so an idempotent one is sent again once, on a fresh connection.
            if not reused or method not in _IDEMPOTENT:
                raise UpstreamUnreachable() from None
        except (OSError, http.client.HTTPException):
            connection.close()
            raise UpstreamUnreachable() from None
        connection = self._new(origin)
        try:
            return self._send(connection, method, target, headers, body), connection
        except TimeoutError:
            connection.close()
            raise UpstreamTimeout() from None
        except (OSError, http.client.HTTPException):
            connection.close()
            raise UpstreamUnreachable() from None

    def release(self, origin: Origin, connection: http.client.HTTPConnection, reusable: bool) -> None:
        """Give a connection back after its response was read to the end (or close it)."""
        if not reusable:
            connection.close()
            return
        pool = self._local.idle.setdefault((origin.scheme, origin.host, origin.port), [])
        if len(pool) >= MAX_IDLE_PER_SERVICE:
            connection.close()
            return
        pool.append(_Idle(connection, time.monotonic()))

    def _checkout(self, origin: Origin) -> http.client.HTTPConnection:
        pool = self._local.idle.get((origin.scheme, origin.host, origin.port))
        now = time.monotonic()
        while pool:
            idle = pool.pop()
            if now - idle.since < self.max_idle_seconds:
                return idle.connection
            idle.connection.close()
        return self._new(origin)

    def _new(self, origin: Origin) -> http.client.HTTPConnection:
        factory = http.client.HTTPSConnection if origin.scheme == "https" else http.client.HTTPConnection
        return factory(origin.host, origin.port, timeout=self.connect_timeout)

    def _send(
        self,
        connection: http.client.HTTPConnection,
        method: str,
        target: str,
        headers: dict[str, str],
        body: bytes | None,
    ) -> http.client.HTTPResponse:
        if connection.sock is None:
            connection.connect()
            # Connecting may take connect_timeout; waiting for the answer may take read_timeout.
            sock: socket.socket = connection.sock  # type: ignore[assignment]  # set by connect()
            sock.settimeout(self.read_timeout)
        connection.request(method, target, body=body, headers=headers)
        return connection.getresponse()


_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
