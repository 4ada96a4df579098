"""An SMTP sink for tests in its own process: every message becomes `<n>.eml` in a spool directory.

Run alone with ``python -m polis.testing.smtp --port N --spool DIR [--reply 451]``; tests use
:class:`SmtpSink` or the ``smtp_sink`` fixture (a pytest plugin: load ``polis.testing.smtp``).
The reply to DATA can be switched while the sink runs (``set_reply(451)``, ``set_reply(None)``): the
child reads it from ``<spool>/reply-code`` at every message, so a test can make delivery fail
temporarily (4xx) or permanently (5xx) and then recover without a restart. A stopped sink refuses
connections; `start()` brings it back on the same port. ``--discard`` (``SmtpSink(discard=True)``) keeps
no message and only counts them, for benchmarks.
"""

from __future__ import annotations

import argparse
import contextlib
import email
import email.policy
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

from polis.testing.ports import free_port, is_listening

REPLY_FILE = "reply-code"
COUNT_FILE = "count"  # discard mode: the number of accepted messages, rewritten as it grows
READY_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
# The text that goes with each code the tests use; any other code gets a generic text.
REPLY_TEXTS = {
    421: "4.3.2 Service not available (test sink)",
    450: "4.2.1 Mailbox unavailable, try again later (test sink)",
    451: "4.3.0 Temporary failure, try again later (test sink)",
    452: "4.3.1 Insufficient system storage (test sink)",
    550: "5.1.1 Mailbox unavailable (test sink)",
    552: "5.3.4 Message too big (test sink)",
    554: "5.7.1 Transaction failed (test sink)",
}


def reply_line(code: int | None) -> str:
    """The SMTP answer to DATA: 250 when code is None, else `code text`."""
    if code is None:
        return "250 2.0.0 OK: queued by the test sink"
    if not 400 <= code <= 599:
        raise ValueError(f"reply code must be 4xx or 5xx, not {code}")
    return f"{code} {REPLY_TEXTS.get(code, 'Refused (test sink)')}"


# --- the child process ----------------------------------------------------------------------------------


class _SpoolHandler:
    """aiosmtpd handler: writes each accepted message as <n>.eml (and its envelope as <n>.json)."""

    def __init__(self, spool: Path) -> None:
        self.spool = spool
        self._lock = threading.Lock()
        self._count = len(list(spool.glob("*.eml")))

    def _reply_code(self) -> int | None:
        try:
            raw = (self.spool / REPLY_FILE).read_text().strip()
        except FileNotFoundError:
            return None
        return int(raw) if raw else None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        code = self._reply_code()
        if code is not None:
            return reply_line(code)
        with self._lock:
            self._count += 1
            number = self._count
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode()
        meta = {"mail_from": envelope.mail_from, "rcpt_tos": list(envelope.rcpt_tos), "number": number}
        # Written under a temporary name and renamed, so a reader never sees half a message.
        for suffix, data in ((".json", json.dumps(meta).encode()), (".eml", content)):
            tmp = self.spool / f".{number}{suffix}.tmp"
            tmp.write_bytes(data)
            tmp.rename(self.spool / f"{number}{suffix}")
        return reply_line(None)


class _CountingHandler:
    """aiosmtpd handler for benchmarks: accepts and forgets each message, counting them in <spool>/count."""

    def __init__(self, spool: Path) -> None:
        self.spool = spool
        self.count = 0
        self.written = -1

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += 1
        return "250 2.0.0 OK: counted by the test sink"

    def write_count(self) -> None:
        if self.count != self.written:
            count = self.count
            tmp = self.spool / f".{COUNT_FILE}.tmp"
            tmp.write_text(str(count))
            tmp.rename(self.spool / COUNT_FILE)
            self.written = count


def serve(port: int, spool: Path, host: str = "127.0.0.1", *, discard: bool = False) -> None:
    """Run the sink until SIGTERM or SIGINT; `discard` only counts messages (benchmarks)."""
    from aiosmtpd.controller import Controller

    spool.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    handler: Any = _CountingHandler(spool) if discard else _SpoolHandler(spool)
    controller = Controller(handler, hostname=host, port=port, data_size_limit=0)
    controller.start()
    try:
        if discard:
            handler.write_count()
            while not stop.wait(0.05):
                handler.write_count()
            handler.write_count()
        else:
            stop.wait()
    finally:
        controller.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m polis.testing.smtp", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--spool", type=Path, required=True, help="directory that receives <n>.eml files")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--reply", type=int, default=None, help="answer every DATA with this 4xx/5xx code")
    parser.add_argument("--discard", action="store_true", help="count messages in <spool>/count, keep none")
    args = parser.parse_args(argv)
    args.spool.mkdir(parents=True, exist_ok=True)
    if args.reply is not None:
        reply_line(args.reply)  # validate before starting
        (args.spool / REPLY_FILE).write_text(str(args.reply))
    serve(args.port, args.spool, args.host, discard=args.discard)
    return 0


# --- the test side --------------------------------------------------------------------------------------


class SmtpSinkError(RuntimeError):
    """The sink would not start, or the expected messages did not arrive."""


class SmtpSink:
    """The sink as a child process: start(), messages(), wait_for(count), set_reply(code), stop()."""

    def __init__(
        self,
        spool: str | os.PathLike[str],
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        reply_code: int | None = None,
        discard: bool = False,
    ) -> None:
        self.spool = Path(spool)
        self.discard = discard
        self.host = host
        self.port = port or free_port(host)
        self._initial_reply = reply_code
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.spool.parent / f"{self.spool.name}.log"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> SmtpSink:
        """Start the child process and wait until it accepts connections."""
        if self.running:
            return self
        self.spool.mkdir(parents=True, exist_ok=True)
        self.set_reply(self._initial_reply)
        argv = [sys.executable, "-m", "polis.testing.smtp", "--host", self.host]
        argv += ["--port", str(self.port), "--spool", str(self.spool)]
        if self.discard:
            argv.append("--discard")
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + READY_TIMEOUT
        while not is_listening(self.port, self.host):
            if self._process.poll() is not None:
                raise SmtpSinkError(f"SMTP sink exited with {self._process.returncode}:\n{self._log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise SmtpSinkError(f"SMTP sink not listening on {self.port} after {READY_TIMEOUT:.0f}s")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        """Stop the child (SIGTERM, then SIGKILL); the spool stays for inspection."""
        if self._process is None:
            return
        if self._process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGTERM)
            try:
                self._process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait(timeout=STOP_TIMEOUT)
        self._process = None

    def set_reply(self, code: int | None) -> None:
        """Answer every following DATA with `code` (4xx temporary, 5xx permanent), or accept (None)."""
        self.spool.mkdir(parents=True, exist_ok=True)
        path = self.spool / REPLY_FILE
        if code is None:
            path.unlink(missing_ok=True)
        else:
            reply_line(code)
            path.write_text(str(code))

    def _numbers(self) -> list[int]:
        return sorted(int(path.stem) for path in self.spool.glob("*.eml"))

    def messages(self) -> list[EmailMessage]:
        """Every message received so far, in arrival order."""
        parsed = []
        for number in self._numbers():
            raw = (self.spool / f"{number}.eml").read_bytes()
            message = email.message_from_bytes(raw, policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            parsed.append(message)
        return parsed

    def envelopes(self) -> list[dict[str, Any]]:
        """The SMTP envelope of each message (mail_from, rcpt_tos), in arrival order."""
        return [json.loads((self.spool / f"{n}.json").read_text()) for n in self._numbers()]

    def count(self) -> int:
        if self.discard:
            try:
                return int((self.spool / COUNT_FILE).read_text() or 0)
            except FileNotFoundError:
                return 0
        return len(self._numbers())

    def wait_for(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        """Block until at least `count` messages have arrived; return them all, or raise after timeout."""
        deadline = time.monotonic() + timeout
        while True:
            if self.count() >= count:
                return self.messages()
            if time.monotonic() > deadline:
                raise SmtpSinkError(f"expected {count} message(s) within {timeout}s, got {self.count()}")
            time.sleep(0.05)

    def emails_to(self, address: str, subject: str = "") -> list[EmailMessage]:
        """The messages received so far whose To names address (and whose Subject holds `subject`)."""
        return [
            message
            for message in self.messages()
            if address in str(message["To"]) and subject in str(message["Subject"])
        ]

    def wait_for_email(
        self, address: str, count: int = 1, *, subject: str = "", timeout: float = 60.0
    ) -> list[EmailMessage]:
        """Block until at least `count` messages to address (with `subject` in the Subject) have arrived;
        return them all, or fail after timeout (the relay and the consumer may be backing off)."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.emails_to(address, subject)
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"expected {count} message(s) to {address} within {timeout}s, got {len(found)}"
                )
            time.sleep(0.05)

    def clear(self) -> None:
        """Forget the messages received so far (numbering goes on in the running child)."""
        for path in [*self.spool.glob("*.eml"), *self.spool.glob("*.json")]:
            path.unlink(missing_ok=True)

    def _log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


@pytest.fixture
def smtp_sink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpSink]:
    """A running SMTP sink on a free port for one test; `.port`, `.messages()`, `.wait_for(n)`."""
    with SmtpSink(tmp_path_factory.mktemp("smtp") / "spool") as sink:
        yield sink


if __name__ == "__main__":
    sys.exit(main())
