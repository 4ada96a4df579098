"""JSON log lines on stdout: one object per line with time, level, service, logger, request id, message."""

from __future__ import annotations

import atexit
import json
import logging
import logging.handlers
import multiprocessing.util
import os
import queue
import sys
import threading
import time
import traceback
from typing import Any, TextIO

from polis.requestid import current_request_id

# Attributes every LogRecord has; anything else was passed through `extra=` and is kept as a field.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


_second: tuple[int, str] = (-1, "")


def iso_time(timestamp: float) -> str:
    """UTC with milliseconds, as datetime.isoformat(timespec="milliseconds") writes it, at a fraction of its
    cost: the date and time of day are formatted once per second (every log line needs one)."""
    global _second
    whole = int(timestamp)
    cached = _second
    if cached[0] != whole:
        cached = _second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    return f"{cached[1]}.{int((timestamp - whole) * 1000):03d}+00:00"


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": iso_time(record.created),
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


class _Writer:
    """The one thread per process that formats and writes log lines: it takes whatever has queued up
    (records, or access lines already formatted) and writes them with one write and one flush."""

    BATCH = 512
    # After the first line, wait this long for others: woken for every line, the writer would take the GIL
    # and make a write call per request (a tenth of the gateway's CPU under load, more than the line costs).
    GATHER_SECONDS = 0.02
    STOP = object()

    def __init__(self, stream: TextIO, formatter: logging.Formatter) -> None:
        self.stream = stream
        self.formatter = formatter
        self.queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name="polis-log-writer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        take, take_waiting = self.queue.get, self.queue.get_nowait
        while True:
            batch = [take()]
            time.sleep(self.GATHER_SECONDS)
            while len(batch) < self.BATCH:
                try:
                    batch.append(take_waiting())
                except queue.Empty:
                    break
            lines = [self._line(item) for item in batch if item is not self.STOP]
            if lines:
                try:
                    self.stream.write("\n".join(lines) + "\n")
                    self.stream.flush()
                except (OSError, ValueError):  # stdout closed or gone: nothing better to do with a log line
                    pass
            if len(lines) < len(batch):
                return

    def _line(self, item: Any) -> str:
        if isinstance(item, str):
            return item
        try:
            return self.formatter.format(item)
        except Exception:  # a record that cannot be formatted must not stop the writer
            return json.dumps({"level": "error", "message": "unformattable log record", "logger": item.name})

    def stop(self) -> None:
        """Write what is queued, then end the thread."""
        self.queue.put(self.STOP)
        self.thread.join(timeout=5)


_writer: _Writer | None = None
_service = "polis"


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
    global _writer, _service
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service))
    writer = _Writer(sys.stdout, handler.formatter)  # type: ignore[arg-type]
    root = logging.getLogger()
    root.handlers[:] = [_RequestIdQueueHandler(writer.queue)]  # type: ignore[arg-type]
    root.setLevel(level)
    _stop_writer()  # the previous writer drains what reached it before the switch
    _writer, _service = writer, service
    _finalize_in_this_process()
    for name in ("gunicorn.error", "gunicorn.access", "werkzeug"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # pika narrates every connection step at INFO; its warnings are what matter.
    logging.getLogger("pika").setLevel(logging.WARNING)


# A path segment this long with two dots or more is a signed token (itsdangerous, a JWT): an emailed link's
# (registration confirmation, unlock, email change). It is never logged (ARCHITECTURE.md: secrets never
# logged; issue 17 item 5's scan found them in the access lines of the gateway and IAM).
TOKEN_SEGMENT = 40
REDACTED = "[token]"


def redact_tokens(path: str) -> str:
    """`path` with each token-like segment replaced by [token]."""
    return "/".join(
        REDACTED if len(segment) >= TOKEN_SEGMENT and segment.count(".") >= 2 else segment
        for segment in path.split("/")
    )


def log_request(logger: logging.Logger, *, method: str, path: str, status: int, duration_ms: float) -> None:
    """The access line of one request: the same JSON line as logger.info("request", extra=...), built
    directly (the logging machinery and the generic formatter were a fifth of a small request's CPU).
    Falls back to the logger whenever something else listens to it (tests' log capture, a forked child)."""
    if not logger.isEnabledFor(logging.INFO):
        return
    if len(path) > TOKEN_SEGMENT and "." in path:  # cheap first look: most paths are short or dotless
        path = redact_tokens(path)
    writer = _writer
    root = logging.getLogger()
    if writer is None or logger.handlers or len(root.handlers) != 1:
        fields = {"method": method, "path": path, "status": status, "duration_ms": duration_ms}
        logger.info("request", extra={"request_id": current_request_id(), **fields})
        return
    path_json = json.dumps(path, ensure_ascii=False)
    writer.queue.put(
        f'{{"time": "{iso_time(time.time())}", "level": "info", "service": {json.dumps(_service)}, '
        f'"logger": {json.dumps(logger.name)}, "request_id": {json.dumps(current_request_id())}, '
        f'"message": "request", "method": {json.dumps(method)}, "path": {path_json}, '
        f'"status": {int(status)}, "duration_ms": {float(duration_ms)}}}'
    )


_finalizer_pid: int | None = None


def _finalize_in_this_process() -> None:
    # A multiprocessing child (Granian's workers) ends with os._exit: no atexit, only multiprocessing's
    # finalizers, which a child starts without. The last lines before a graceful stop are written there.
    global _finalizer_pid
    if _finalizer_pid != os.getpid():
        multiprocessing.util.Finalize(None, _stop_writer, exitpriority=0)
        _finalizer_pid = os.getpid()


def _write_directly_in_child() -> None:
    # A forked child (gunicorn with preload_app) inherits the queue but not the writer thread: it writes
    # its lines itself, synchronously, until it configures logging again.
    global _writer
    if _writer is None:
        return
    writer, _writer = _writer, None
    handler = logging.StreamHandler(writer.stream)
    handler.setFormatter(writer.formatter)
    logging.getLogger().handlers[:] = [handler]


os.register_at_fork(after_in_child=_write_directly_in_child)


def _stop_writer() -> None:
    # Drains the queue: the last lines before exit are written, not lost.
    global _writer
    if _writer is not None:
        writer, _writer = _writer, None
        writer.stop()


atexit.register(_stop_writer)
