"""JSON log lines on stdout: one object per line with time, level, service, logger, request id, message."""

from __future__ import annotations

import atexit
import json
import logging
import logging.handlers
import os
import queue
import sys
import traceback
from datetime import UTC, datetime
from typing import Any

from polis.requestid import current_request_id

# Attributes every LogRecord has; anything else was passed through `extra=` and is kept as a field.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "request_id": getattr(record, "request_id", None) or current_request_id(),
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in line:
                line[key] = value if isinstance(value, str | int | float | bool | type(None)) else repr(value)
        if record.exc_info:
            # Stack traces go to the log, never to a user; keep them on one line for log shippers.
            line["exception"] = "".join(traceback.format_exception(*record.exc_info))
        return json.dumps(line, ensure_ascii=False)


_listener: logging.handlers.QueueListener | None = None


class _RequestIdQueueHandler(logging.handlers.QueueHandler):
    """Hands records to the writer thread, with the request id read now, on the thread that logged."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        if getattr(record, "request_id", None) is None:
            record.request_id = current_request_id()
        return record  # formatted by the writer thread: the request thread does no JSON work


def configure_logging(service: str, level: str | int = "INFO") -> None:
    """Route the root logger (and gunicorn's) to stdout as JSON lines; idempotent.

    Request threads only enqueue records; one writer thread per process formats and writes them, so threads
    never queue up behind each other on the stream's lock.
    """
    global _listener
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service))
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    listener = logging.handlers.QueueListener(records, handler, respect_handler_level=False)
    listener.start()
    root = logging.getLogger()
    root.handlers[:] = [_RequestIdQueueHandler(records)]
    root.setLevel(level)
    _stop_listener()  # the previous writer drains what reached it before the switch
    _listener = listener
    for name in ("gunicorn.error", "gunicorn.access", "werkzeug"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # pika narrates every connection step at INFO; its warnings are what matter.
    logging.getLogger("pika").setLevel(logging.WARNING)


def _write_directly_in_child() -> None:
    # A forked child (gunicorn with preload_app) inherits the queue but not the writer thread: it writes
    # its lines itself, synchronously, until it configures logging again.
    global _listener
    if _listener is None:
        return
    handler = _listener.handlers[0]
    _listener = None
    logging.getLogger().handlers[:] = [handler]


os.register_at_fork(after_in_child=_write_directly_in_child)


def _stop_listener() -> None:
    # Drains the queue: the last lines before exit are written, not lost.
    global _listener
    if _listener is not None:
        listener, _listener = _listener, None
        listener.stop()


atexit.register(_stop_listener)
