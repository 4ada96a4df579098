"""A private redis-server for the gateway's tests (Debian's package, installed by scripts/install.sh): its
own port and directory, nothing saved to disk (or, `persistent`, every write appended and fsynced so the data
outlives a kill -9), started as a real process, stopped or killed by its pid and started again on its port."""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import redis
from polis.testing.ports import free_port

READY_TIMEOUT = 15.0


class RedisServer:
    def __init__(self, *, persistent: bool = False) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed: run scripts/install.sh (Debian: redis-server)")
        self.binary = binary
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="polis-redis-"))
        self.process: subprocess.Popen[bytes] | None = None
        self.persistent = persistent

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        log = open(self.dir / "redis.log", "ab")  # noqa: SIM115 - handed to the process
        try:
            options = {"port": str(self.port), "bind": "127.0.0.1", "dir": str(self.dir), "save": ""}
            options["appendonly"] = "yes" if self.persistent else "no"
            if self.persistent:
                options["appendfsync"] = "always"
            self.process = subprocess.Popen(
                [self.binary, *(part for name, value in options.items() for part in (f"--{name}", value))],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()
        client = redis.Redis.from_url(self.url, socket_timeout=1, socket_connect_timeout=1)
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            try:
                if client.ping():
                    return self
            except redis.exceptions.ConnectionError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"redis-server did not start: {(self.dir / 'redis.log').read_text()[-2000:]}"
                )
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL the server (a crash); `start` brings it back on the same port and directory."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
