"""The request id: one per request at the edge, carried to services and events, present in every log line."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token

HEADER = "X-Request-ID"

_current: ContextVar[str | None] = ContextVar("polis_request_id", default=None)
# Ids from a trusted caller are adopted only when they look like ids: no log injection through them.
_VALID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")


def new_request_id() -> str:
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    return _current.get()


def is_valid(value: str | None) -> bool:
    return bool(value) and _VALID.match(value or "") is not None


def set_request_id(value: str | None) -> None:
    """Set the id for the current context (a request handled by one thread, or a consumed event)."""
    _current.set(value)


def bind_token(value: str | None) -> Token[str | None]:
    """Make value the current request id until unbind_token is given what this returned."""
    return _current.set(value)


def unbind_token(token: Token[str | None]) -> None:
    _current.reset(token)


@contextmanager
def bind(value: str | None) -> Iterator[str | None]:
    """Make value the current request id inside the block."""
    token = _current.set(value)
    try:
        yield value
    finally:
        _current.reset(token)
