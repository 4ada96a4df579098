"""Start and stop the whole Polis system as local processes: for `make run` and the cross-service tests.

Every process runs in its own process group and logs to `<base>/log/<name>.log`. Ports, the base directory,
the broker (a private RabbitMQ node, or an external URL), the SMTP server (MailDev, or an external one),
the databases and the environment of each process are parameters, so tests can run a stack on free ports
in a temporary directory. Imported by scripts/run.py and tests/support/stack.py (polis[testing], installed
editable from this checkout by scripts/install.sh); `python -m polis.testing.devstack migrate` applies every
migration.
"""

from __future__ import annotations

import functools
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor

from polis.testing import stack_processes
from polis.testing.ports import port_in_use
from polis.testing.processes import ManagedProcess, StackAborted, StackError
from polis.testing.rabbitmq import epmd_names, queue_exists, stop_epmd_if_unused
from polis.testing.stack_layout import (
    CONSUMING_SERVICES,
    ONE_SHOT_SUFFIXES,
    ROOT,
    VENV_BIN,
    StackConfig,
    StackLayout,
)


class Stack(StackLayout):
    """The whole system: start() (migrations, processes, readiness, demo data), stop(), process(name)."""

    def __init__(self, config: StackConfig | None = None) -> None:
        super().__init__(config)
        self.processes: dict[str, ManagedProcess] = {}
        self.timings: dict[str, float] = {}
        self._started_epmd = False
        self._lock = threading.Lock()
        self._abort = threading.Event()

    def _add(self, process: ManagedProcess) -> ManagedProcess:
        self.processes[process.name] = process
        return process

    # -- checks -----------------------------------------------------------------------------------------

    def check_ports(self) -> None:
        taken = [f"{port} ({role})" for port, role in self.wanted_ports().items() if port_in_use(port)]
        if taken:
            hint = " Is another RabbitMQ running?" if any("RabbitMQ" in item for item in taken) else ""
            raise StackError(
                f"port already in use: {', '.join(taken)}.{hint} "
                "Stop whatever holds it (`ss -ltnp` names it) and try again."
            )

    # -- lifecycle --------------------------------------------------------------------------------------

    def start(self, *, on_step: Callable[[str], None] | None = None) -> Stack:
        """Start everything and wait until every web process answers /readyz; timings in self.timings.

        On failure everything started so far is stopped before the error propagates.
        """
        say = on_step or (lambda _msg: None)
        began = time.monotonic()
        self._abort.clear()
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.check_ports()
        try:
            self._start(say, began)
        except BaseException:
            self.stop()
            raise
        self.timings["ready"] = time.monotonic() - began
        return self

    def _start(self, say: Callable[[str], None], began: float) -> None:
        if not self.config.broker_url:
            self._started_epmd = epmd_names() is None
            say(f"starting RabbitMQ on {self.port('amqp')} (data in {self.base_dir / 'rabbitmq'})")
            self._add(stack_processes.rabbitmq(self)).start()
        if not self.config.smtp:
            say(f"starting MailDev (SMTP {self.port('smtp')}, inbox {self.port('mail_web')})")
            self._add(stack_processes.maildev(self)).start()

        say("applying migrations" + (" and loading demo data" if self.config.demo_data else ""))
        with ThreadPoolExecutor(max_workers=len(self.config.services) or 1) as pool:
            list(pool.map(self._prepare_service, self.config.services))
        self.timings["migrations"] = time.monotonic() - began

        say("starting the services" + (" and the gateway" if self.config.gateway else ""))
        for service in self.config.services:
            folder = ROOT / "services" / service
            self._add(stack_processes.gunicorn(self, f"{service}-web", folder, self.port(service), service))
        if self.config.gateway:
            self._add(stack_processes.gateway(self))
        for process in self.long_running():
            process.start()
        self._start_workers(say, began)

        say("waiting for readiness")
        remaining = max(self.config.ready_timeout - (time.monotonic() - began), 1.0)

        def wait(process: ManagedProcess) -> float:
            process.wait_ready(remaining, self._abort)
            return time.monotonic() - began  # seconds from the start of the run

        long_running = self.long_running()
        with ThreadPoolExecutor(max_workers=len(long_running)) as pool:
            for process, ready_at in zip(long_running, pool.map(wait, long_running), strict=True):
                self.timings[process.name] = ready_at

    def _start_workers(self, say: Callable[[str], None], began: float) -> None:
        """Consumers first, producers once the consumers' queues exist.

        An event relayed before its consumer's queue is bound is not lost (the exchange's alternate exchange
        keeps it in polis.unrouted) but it is not delivered either: on a first start the queues must exist
        before any relay publishes. In a deployment the consumers' workers are rolled out first likewise.
        """
        broker = self.processes.get("rabbitmq")
        if broker is not None:
            broker.wait_ready(max(self.config.ready_timeout - (time.monotonic() - began), 1.0), self._abort)
        consumers = [service for service in self.config.services if service in CONSUMING_SERVICES]
        for service in consumers:
            worker = self._add(stack_processes.worker(self, service))
            worker.ready_check = functools.partial(queue_exists, self.broker_url, f"{service}.events")
            worker.start()
        for service in consumers:
            self.processes[f"{service}-worker"].wait_ready(60.0, self._abort)
        say("consumers bound; starting the outbox relays")
        for service in self.config.services:
            if service not in CONSUMING_SERVICES:
                self._add(stack_processes.worker(self, service)).start()

    def _migrate_service(self, service: str) -> None:
        argv = [str(VENV_BIN / "alembic"), "-c", "alembic.ini", "upgrade", "head"]
        migrate = self.run_once(f"{service}-migrate", service, argv)
        if migrate.returncode != 0:
            raise StackError(f"migrations of {service} failed:\n{migrate.log_tail()}")

    def _prepare_service(self, service: str) -> None:
        """Migrations, then the (idempotent) demo data: one interpreter, so the service is imported once."""
        if not self.config.demo_data:
            self._migrate_service(service)
            return
        argv = [str(VENV_BIN / "python"), "-m", "polis.testing.devstack", "prepare", service]
        prepare = self.run_once(f"{service}-prepare", service, argv)
        if prepare.returncode != 0:
            raise StackError(f"migrations or demo data of {service} failed:\n{prepare.log_tail()}")

    def run_once(self, name: str, service: str, argv: list[str], timeout: float = 120.0) -> ManagedProcess:
        """Run a one-shot command of a service to completion (logged like the others)."""
        process = stack_processes.one_shot(self, name, service, argv)
        with self._lock:
            self.processes[name] = process
        process.start()
        assert process.popen is not None
        deadline = time.monotonic() + timeout
        while process.popen.poll() is None:
            if self._abort.is_set():
                process.kill()
                raise StackAborted(f"interrupted while running {name}")
            if time.monotonic() > deadline:
                process.kill()
                raise StackError(f"{name} did not finish within {timeout:.0f}s:\n{process.log_tail()}")
            time.sleep(0.05)
        process.expected_exit = True
        return process

    def abort(self) -> None:
        """Make a start() in progress (in another thread, or interrupted by a signal) give up and clean up."""
        self._abort.set()

    def migrate(self) -> None:
        """Apply every service's migrations (no other process is started)."""
        self.base_dir.mkdir(parents=True, exist_ok=True)
        with ThreadPoolExecutor(max_workers=len(self.config.services) or 1) as pool:
            list(pool.map(self._migrate_service, self.config.services))

    def long_running(self) -> list[ManagedProcess]:
        return [p for p in self.processes.values() if not p.name.endswith(ONE_SHOT_SUFFIXES)]

    def process(self, name: str) -> ManagedProcess:
        """One process by name: rabbitmq, maildev, <service>-web, <service>-worker, gateway."""
        try:
            return self.processes[name]
        except KeyError:
            raise KeyError(f"no process {name!r}; known: {', '.join(self.processes)}") from None

    def unexpected_exits(self) -> list[ManagedProcess]:
        """Long-running processes that have exited without being asked to."""
        return [
            p for p in self.long_running() if p.popen is not None and not p.running and not p.expected_exit
        ]

    def stop(self) -> None:
        """Stop what this stack started: gateway and services first, the broker last, then epmd if ours."""
        order = sorted(self.long_running(), key=lambda p: {"rabbitmq": 2, "maildev": 1}.get(p.name, 0))
        first = [p for p in order if p.name not in ("rabbitmq", "maildev")]
        for process in first:
            process.send_signal(signal.SIGTERM)  # all at once: their graceful shutdowns overlap
        for process in order:
            process.stop()
        if self._started_epmd:
            stop_epmd_if_unused()  # another node (a parallel run) may have registered meanwhile
            self._started_epmd = False

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def format_urls(urls: Mapping[str, str]) -> Iterable[str]:
    width = max((len(label) for label in urls), default=0)
    return (f"  {label.ljust(width)}  {url}" for label, url in urls.items())


def prepare(service: str) -> int:
    """`prepare <service>` (cwd: the service's folder): alembic upgrade head, then its demo-data command."""
    from alembic.config import main as alembic_main
    from flask.cli import main as flask_main

    alembic_main(argv=["-c", "alembic.ini", "upgrade", "head"])
    sys.argv = ["flask", "--app", service, "demo-data"]
    try:
        flask_main()
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
        # A service without demo data simply has no such command.
        return 0 if code == 2 else code
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) == 2 and args[0] == "prepare":
        return prepare(args[1])
    if args != ["migrate"]:
        print("usage: python -m polis.testing.devstack migrate | prepare <service>", file=sys.stderr)
        return 2
    stack = Stack(StackConfig(demo_data=False))
    try:
        stack.migrate()
    except StackError as error:
        print(f"migrate: {error}", file=sys.stderr)
        return 1
    for service in stack.config.services:
        print(f"{service}: migrated ({stack.database_url(service)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
