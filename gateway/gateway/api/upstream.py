"""The HTTP client to the services: one urllib3 pool per process, opened lazily (after gunicorn forks)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import urllib3
from urllib3.util.retry import Retry

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# A connection that failed before the request was sent is safe to try once more, for idempotent methods.
_IDEMPOTENT_RETRY = Retry(total=1, connect=1, read=0, status=0, other=0, redirect=0, raise_on_redirect=False)
_NO_RETRY = Retry(total=0, connect=0, read=0, status=0, other=0, redirect=0, raise_on_redirect=False)

_pool: urllib3.PoolManager | None = None
_pool_lock = threading.Lock()
_pool_size = 16


def configure(maxsize: int) -> None:
    global _pool_size
    _pool_size = maxsize


def pool() -> urllib3.PoolManager:
    """The process's pool; a forked child gets its own, never the parent's sockets."""
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = urllib3.PoolManager(maxsize=_pool_size, block=False)
    return _pool


def _forget_pool_in_child() -> None:
    global _pool, _pool_lock
    _pool = None
    _pool_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_pool_in_child)


def send(
    method: str,
    url: str,
    *,
    headers: dict[str, str],
    body: bytes | None,
    connect_timeout: float,
    read_timeout: float,
) -> urllib3.BaseHTTPResponse:
    """Send one request; the response body is left unread for streaming. Raises urllib3 errors."""
    return pool().request(
        method,
        url,
        headers=headers,
        body=body,
        timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
        retries=_IDEMPOTENT_RETRY if method in IDEMPOTENT else _NO_RETRY,
        redirect=False,
        preload_content=False,
        decode_content=False,
    )


def stream(response: urllib3.BaseHTTPResponse, chunk_size: int = 64 * 1024) -> Iterator[bytes]:
    """Yield the body as it arrives, then give the connection back to the pool."""
    try:
        yield from response.stream(chunk_size, decode_content=False)
    finally:
        response.release_conn()
