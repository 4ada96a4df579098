"""A child process of the development stack or a test: its own process group, a log file, stop/kill/start
again, readiness by URL or check (polis.testing.devstack builds the whole system from these)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path

STOP_TIMEOUT = 20.0


class StackError(RuntimeError):
    """The stack could not start: a port taken, a process that died, a deadline missed."""


class StackAborted(StackError):
    """start() was interrupted by abort() (Ctrl-C): what had started is stopped."""


class ManagedProcess:
    """A child in its own process group, logging to a file; stop(), kill(), start() again, log_tail()."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        *,
        cwd: Path,
        env: Mapping[str, str],
        log_path: Path,
        ready_url: str | None = None,
        ready_check: Callable[[], bool] | None = None,
        stop_command: list[str] | None = None,
    ) -> None:
        self.name = name
        self.argv = argv
        self.cwd = cwd
        self.env = dict(env)
        self.log_path = log_path
        self.ready_url = ready_url
        self.ready_check = ready_check
        self.stop_command = stop_command
        self.popen: subprocess.Popen[bytes] | None = None
        self.expected_exit = False
        self._starts = 0

    def __repr__(self) -> str:
        state = "running" if self.running else f"exited {self.returncode}"
        return f"<ManagedProcess {self.name} pid={self.pid} {state}>"

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.popen.poll() if self.popen else None

    def start(self) -> ManagedProcess:
        if self.running:
            return self
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        # A fresh log at the first start; a restart appends, so a test can read both lives.
        with open(self.log_path, "ab" if self._starts else "wb") as log:
            self.popen = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._starts += 1
        self.expected_exit = False
        return self

    def send_signal(self, sig: int) -> None:
        """Send a signal to the whole process group (gunicorn's workers, beam's helpers included)."""
        if self.popen is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.popen.pid, sig)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> int | None:
        """Stop gracefully (stop_command or `sig`), SIGKILL the group after timeout; the exit code."""
        if self.popen is None:
            return None
        self.expected_exit = True
        if self.running:
            if self.stop_command and sig == signal.SIGTERM:
                with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                    subprocess.run(
                        self.stop_command, env=self.env, capture_output=True, timeout=timeout, check=False
                    )
            else:
                self.send_signal(sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=timeout)
        # Whatever is left of the group (a helper that outlived its parent) goes too.
        self.send_signal(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=5)
        return self.popen.returncode

    def kill(self) -> int | None:
        """SIGKILL the group at once: a crash, for fault tests."""
        return self.stop(signal.SIGKILL, timeout=5)

    def restart(self, sig: int = signal.SIGTERM) -> ManagedProcess:
        self.stop(sig)
        return self.start()

    def is_ready(self) -> bool:
        if self.ready_check is not None:
            return self.ready_check()
        if self.ready_url is None:
            return self.running
        try:
            with urllib.request.urlopen(self.ready_url, timeout=2) as response:  # noqa: S310 - local URL
                return bool(response.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def wait_ready(self, timeout: float = 60.0, abort: threading.Event | None = None) -> float:
        """Poll until ready; raise with the log tail if the process exits or the deadline passes."""
        started = time.monotonic()
        while not self.is_ready():
            if abort is not None and abort.is_set():
                raise StackAborted(f"interrupted while waiting for {self.name}")
            if not self.running:
                raise StackError(f"{self.name} exited with {self.returncode}:\n{self.log_tail()}")
            if time.monotonic() - started > timeout:
                raise StackError(f"{self.name} not ready after {timeout:.0f}s:\n{self.log_tail()}")
            time.sleep(0.1)
        return time.monotonic() - started

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_text()
        return "\n".join(text.splitlines()[-lines:]) if text else "(empty log)"
