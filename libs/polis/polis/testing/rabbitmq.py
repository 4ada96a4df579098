"""A private RabbitMQ node: own node name, ports and data dir, restartable for fault tests.

The one launcher of the project: tests start() a node themselves; the development stack (polis.testing.
devstack, `make run`) runs the same node's command and environment as one of its managed processes. Also
the broker checks both use: does a node accept connections, does a queue exist, is epmd still needed."""

from __future__ import annotations

import atexit
import contextlib
import functools
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

import pika
import pika.exceptions

from polis.testing.ports import free_port

FALLBACK_SERVER_SCRIPT = "/usr/lib/rabbitmq/bin/rabbitmq-server"
READY_TIMEOUT = 40.0
STOP_TIMEOUT = 30.0


class RabbitMQUnavailable(RuntimeError):
    """RabbitMQ is not installed or the node would not start."""


@functools.cache
def server_script() -> str:
    """The package's own server script, not the /usr/sbin wrapper that switches to the rabbitmq user.

    Running the inner script as the current user keeps every file of the node under our base dir.
    """
    try:
        listing = subprocess.run(
            ["dpkg", "-L", "rabbitmq-server"], capture_output=True, text=True, check=False, timeout=20
        ).stdout.splitlines()
    except (OSError, subprocess.TimeoutExpired):
        listing = []
    candidates = [p for p in listing if p.endswith("bin/rabbitmq-server") and "/sbin/" not in p]
    candidates.append(FALLBACK_SERVER_SCRIPT)
    for path in candidates:
        if os.access(path, os.X_OK):
            return path
    raise RabbitMQUnavailable(
        "RabbitMQ is not installed (no rabbitmq-server script found); install the rabbitmq-server package"
    )


# AMQP, the Erlang distribution port and an epmd the node starts itself listen on loopback only (issue 11
# item 6: they listened on every interface). An epmd already running keeps the address it was started with.
LOOPBACK_ONLY = {
    "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
    "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
    "ERL_EPMD_ADDRESS": "127.0.0.1",
}


def epmd_names() -> str | None:
    """`epmd -names` output, or None when no epmd answers."""
    epmd = shutil.which("epmd")
    if epmd is None:
        return None
    result = subprocess.run([epmd, "-names"], capture_output=True, text=True, check=False, timeout=10)
    return result.stdout if result.returncode == 0 else None


def stop_epmd_if_unused() -> bool:
    """Stop epmd unless a node is registered (another run may have registered meanwhile); True if stopped."""
    epmd = shutil.which("epmd")
    names = epmd_names()
    if epmd is None or names is None or "name " in names:
        return False
    subprocess.run([epmd, "-kill"], capture_output=True, check=False, timeout=10)
    return True


def accepts_connections(url: str) -> bool:
    """True when the broker at url accepts an AMQP connection now (one attempt, short timeouts)."""
    params = pika.URLParameters(url + "?connection_attempts=1&socket_timeout=2&blocked_connection_timeout=5")
    try:
        pika.BlockingConnection(params).close()
    except (pika.exceptions.AMQPError, OSError):
        return False
    return True


def _not_a_missing_queue(record: logging.LogRecord) -> bool:
    return "NOT_FOUND - no queue" not in record.getMessage()


def queue_exists(url: str, queue: str) -> bool:
    """True once the queue exists on the broker (declared by the consumer that owns it)."""
    try:
        connection = pika.BlockingConnection(pika.URLParameters(url))
    except (pika.exceptions.AMQPError, OSError):
        return False
    # The broker's "no queue" answer is what this asks; pika would log it as a warning on every poll,
    # which buries a failed test's captured log under hundreds of lines.
    channel_log = logging.getLogger("pika.channel")
    channel_log.addFilter(_not_a_missing_queue)
    try:
        connection.channel().queue_declare(queue, passive=True)
        return True
    except pika.exceptions.ChannelClosedByBroker:
        return False
    finally:
        channel_log.removeFilter(_not_a_missing_queue)
        if connection.is_open:
            connection.close()


def delete_queue(url: str, queue: str) -> None:
    """Delete the queue and what it holds (nothing when it does not exist): a test starts with no consumer
    or leftover message of an earlier test on it."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        connection.channel().queue_delete(queue)
    finally:
        connection.close()


def wait_for_queue(url: str, queue: str, timeout: float = 60.0) -> None:
    """Block until the queue exists on the broker; fail after timeout."""
    deadline = time.monotonic() + timeout
    while not queue_exists(url, queue):
        if time.monotonic() > deadline:
            raise RabbitMQUnavailable(f"queue {queue} not declared within {timeout:.0f}s")
        time.sleep(0.1)


class RabbitMQNode:
    """One RabbitMQ node under base_dir; start(), wait_ready(), stop(), kill(), start() again.

    Ports are the kernel's choice unless given; `management_port` enables the management UI there;
    `log_dir` holds the node's own log files (base_dir/log by default)."""

    def __init__(
        self,
        base_dir: str | os.PathLike[str] | None = None,
        *,
        name: str | None = None,
        port: int | None = None,
        dist_port: int | None = None,
        management_port: int | None = None,
        log_dir: str | os.PathLike[str] | None = None,
        disk_free_limit: str = "10MB",
    ) -> None:
        self._own_base = base_dir is None
        self.base_dir = Path(base_dir or tempfile.mkdtemp(prefix="polis-rabbitmq-"))
        self.base_dir.mkdir(parents=True, exist_ok=True)
        # A unique node name keeps parallel test runs and a developer's `make run` node apart in epmd.
        self.nodename = f"{name or 'rabbit-' + uuid.uuid4().hex[:10]}@localhost"
        self.port = port or free_port()
        self.dist_port = dist_port or free_port()
        self.management_port = management_port
        self.log_dir = Path(log_dir) if log_dir else self.base_dir / "log"
        self.disk_free_limit = disk_free_limit
        self._process: subprocess.Popen[bytes] | None = None
        self._started_epmd = False
        atexit.register(self._atexit)

    # -- properties -------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@localhost:{self.port}/%2F"

    @property
    def log_path(self) -> Path:
        return self.base_dir / "server.log"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def environment(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """The node's environment on top of base (this process's by default); writes its plugins and
        config files."""
        plugins = self.base_dir / "enabled_plugins"
        plugins.write_text("[rabbitmq_management].\n" if self.management_port else "[].\n")
        # Tests write little data; the default 50 MB disk alarm would block publishers on small CI disks.
        conf = [
            f"disk_free_limit.absolute = {self.disk_free_limit}",
            "log.console = true",
            "log.file = false",
        ]
        if self.management_port:
            conf += [f"management.tcp.port = {self.management_port}", "management.tcp.ip = 127.0.0.1"]
        config = self.base_dir / "rabbitmq.conf"
        config.write_text("\n".join(conf) + "\n")
        env = dict(os.environ if base is None else base)
        env.update(
            {
                # HOME holds the Erlang cookie that rabbitmqctl must share with the node.
                "HOME": str(self.base_dir),
                "RABBITMQ_MNESIA_BASE": str(self.base_dir / "mnesia"),
                "RABBITMQ_LOG_BASE": str(self.log_dir),
                "RABBITMQ_ENABLED_PLUGINS_FILE": str(plugins),
                "RABBITMQ_CONFIG_FILE": str(config),
                "RABBITMQ_PID_FILE": str(self.base_dir / "rabbitmq.pid"),
                "RABBITMQ_NODENAME": self.nodename,
                "RABBITMQ_NODE_PORT": str(self.port),
                "RABBITMQ_DIST_PORT": str(self.dist_port),
                **LOOPBACK_ONLY,
            }
        )
        return env

    def stop_command(self) -> list[str]:
        """rabbitmqctl stop for this node (run with environment(): it needs the node's Erlang cookie)."""
        return [str(Path(server_script()).with_name("rabbitmqctl")), "-n", self.nodename, "stop"]

    # -- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> RabbitMQNode:
        """Start the node (again, with the same data dir, name and ports after stop() or kill())."""
        if self.running:
            return self
        if epmd_names() is None:
            # The node starts epmd itself; remember so that stop() cleans up only what this run created.
            self._started_epmd = True
        log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the life of the process
        try:
            self._process = subprocess.Popen(
                [server_script()],
                env=self.environment(),
                cwd=self.base_dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so kill() reaches beam and its helpers
            )
        finally:
            log.close()
        return self

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> RabbitMQNode:
        """Block until the node accepts AMQP connections; raise with the log tail if it does not."""
        deadline = time.monotonic() + timeout
        while True:
            if self._process is None or self._process.poll() is not None:
                raise RabbitMQUnavailable(f"RabbitMQ node {self.nodename} exited:\n{self.log_tail()}")
            if accepts_connections(self.url):
                return self
            if time.monotonic() > deadline:
                raise RabbitMQUnavailable(
                    f"RabbitMQ node {self.nodename} not ready after {timeout:.0f}s:\n{self.log_tail()}"
                )
            time.sleep(0.25)

    def stop(self) -> None:
        """Stop gracefully with rabbitmqctl; kill the process group if it does not go."""
        if self.running:
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                subprocess.run(
                    self.stop_command(),
                    env=self.environment(),
                    capture_output=True,
                    check=False,
                    timeout=STOP_TIMEOUT,
                )
            self._wait_exit(STOP_TIMEOUT)
        if self.running:
            self.kill()
        self._stop_epmd_if_ours()

    def kill(self) -> None:
        """SIGKILL the whole process group: a broker crash, for fault tests."""
        if self._process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, signal.SIGKILL)
        self._process.wait(timeout=STOP_TIMEOUT)

    def restart(self) -> RabbitMQNode:
        self.stop()
        return self.start().wait_ready()

    def cleanup(self) -> None:
        """Stop and delete the data dir when this object created it."""
        self.stop()
        if self._own_base:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def _wait_exit(self, timeout: float) -> None:
        assert self._process is not None
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(timeout=timeout)
        # rabbitmqctl stop returns once beam halts; its helper processes may linger in the group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, signal.SIGKILL)

    def _stop_epmd_if_ours(self) -> None:
        # Another node (a parallel run) may have registered meanwhile: then epmd stays, to it.
        if self._started_epmd and stop_epmd_if_unused():
            self._started_epmd = False

    def _atexit(self) -> None:
        # A test run interrupted before its teardown must not leave a broker behind.
        if self.running:
            self.kill()
            self._stop_epmd_if_ours()

    # -- context manager ------------------------------------------------------------------------------

    def __enter__(self) -> RabbitMQNode:
        return self.start().wait_ready()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.cleanup()
