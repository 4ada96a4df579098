"""Start and stop the whole Polis system as local processes: for `make run` and the cross-service tests.

Every process runs in its own process group and logs to `<base>/log/<name>.log`. Ports, the base directory,
the broker (a private RabbitMQ node, or an external URL), the SMTP server (MailDev, or an external one),
the databases and the environment of each process are parameters, so tests can run a stack on free ports
in a temporary directory. Imported by scripts/run.py and tests/support/stack.py (polis[testing], installed
editable from this checkout by scripts/install.sh); `python -m polis.testing.devstack migrate` applies every
migration.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from polis.testing.ports import free_port, port_in_use
from polis.testing.processes import ManagedProcess, StackAborted, StackError
from polis.testing.rabbitmq import (
    RabbitMQNode,
    RabbitMQUnavailable,
    accepts_connections,
    epmd_names,
    queue_exists,
    server_script,
    stop_epmd_if_unused,
)

# The checkout: this module is installed editable from libs/polis (scripts/install.sh); POLIS_ROOT overrides.
ROOT = Path(os.environ.get("POLIS_ROOT") or Path(__file__).resolve().parents[4])
VENV_BIN = ROOT / ".venv" / "bin"
SERVICES = ("iam", "enablement", "istanze", "notifier")
DEFAULT_PORTS = {
    "gateway": 8080,
    "iam": 8101,
    "enablement": 8102,
    "istanze": 8103,
    "notifier": 8104,
    "amqp": 5672,
    "rabbitmq_dist": 25672,
    "rabbitmq_management": 15672,
    "smtp": 1025,
    "mail_web": 1080,
}
PORT_ROLES = {
    "amqp": "RabbitMQ AMQP",
    "rabbitmq_dist": "RabbitMQ distribution",
    "rabbitmq_management": "RabbitMQ management",
    "smtp": "MailDev SMTP",
    "mail_web": "MailDev inbox",
}
ONE_SHOT_SUFFIXES = ("-migrate", "-prepare")
# Services whose worker consumes events: started (and their queues bound) before any outbox relay.
CONSUMING_SERVICES = ("notifier", "enablement", "istanze")


# --- configuration --------------------------------------------------------------------------------------


@dataclasses.dataclass
class StackConfig:
    """What to start and where. Defaults are `make run`'s: fixed ports, ./var, a private RabbitMQ, MailDev."""

    base_dir: Path = ROOT / "var"
    ports: dict[str, int] = dataclasses.field(default_factory=lambda: dict(DEFAULT_PORTS))
    services: tuple[str, ...] = SERVICES
    gateway: bool = True
    # An external broker (e.g. a test's RabbitMQ node): no private node is started.
    broker_url: str | None = None
    # An external SMTP server (host, port), e.g. a test's sink: MailDev is not started.
    smtp: tuple[str, int] | None = None
    # Per service database URL; absent ones come from <SVC>_DATABASE_URL / DATABASE_URL, else SQLite.
    database_urls: dict[str, str] = dataclasses.field(default_factory=dict)
    # Environment for every process, then per process name ("notifier-worker") or service ("notifier").
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    process_env: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)
    # Take <SVC>_DATABASE_URL and the like from this process's environment (off for hermetic tests).
    inherit_environ: bool = True
    demo_data: bool = True
    rabbitmq_management: bool = False
    web_workers: int = 2
    ready_timeout: float = 90.0

    @classmethod
    def on_free_ports(cls, base_dir: Path, **options: object) -> StackConfig:
        """A configuration with every port chosen by the kernel, under base_dir: what tests use."""
        ports = {name: free_port() for name in DEFAULT_PORTS}
        return cls(base_dir=Path(base_dir), ports=ports, inherit_environ=False, **options)  # type: ignore[arg-type]


def _tcp_ready(*ports: int) -> Callable[[], bool]:
    def check() -> bool:
        for port in ports:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    pass
            except OSError:
                return False
        return True

    return check


# --- the stack ------------------------------------------------------------------------------------------


class Stack:
    """The whole system: start() (migrations, processes, readiness, demo data), stop(), process(name)."""

    def __init__(self, config: StackConfig | None = None) -> None:
        self.config = config or StackConfig()
        self.base_dir = self.config.base_dir.resolve()
        self.log_dir = self.base_dir / "log"
        self.processes: dict[str, ManagedProcess] = {}
        self.timings: dict[str, float] = {}
        self._started_epmd = False
        self._lock = threading.Lock()
        self._abort = threading.Event()

    # -- addresses --------------------------------------------------------------------------------------

    def port(self, name: str) -> int:
        return self.config.ports[name]

    @property
    def broker_url(self) -> str:
        if self.config.broker_url:
            return self.config.broker_url
        return f"amqp://guest:guest@localhost:{self.port('amqp')}/%2F"

    @property
    def smtp_address(self) -> tuple[str, int]:
        return self.config.smtp or ("127.0.0.1", self.port("smtp"))

    @property
    def gateway_url(self) -> str:
        return f"http://localhost:{self.port('gateway')}"

    @property
    def inbox_url(self) -> str | None:
        return None if self.config.smtp else f"http://localhost:{self.port('mail_web')}"

    def service_url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.port(service)}"

    def database_url(self, service: str) -> str:
        if service in self.config.database_urls:
            return self.config.database_urls[service]
        if self.config.inherit_environ:
            for name in (f"{service.upper()}_DATABASE_URL", "DATABASE_URL"):
                if os.environ.get(name):
                    return os.environ[name]
        return f"sqlite:///{self.base_dir / (service + '.sqlite3')}"

    def urls(self) -> dict[str, str]:
        """What a developer opens: the portal, the inbox, each service's OpenAPI document."""
        urls = {"portal": self.gateway_url} if self.config.gateway else {}
        if self.inbox_url:
            urls["inbox"] = self.inbox_url
        if not self.config.broker_url and self.config.rabbitmq_management:
            urls["rabbitmq"] = f"http://localhost:{self.port('rabbitmq_management')} (guest/guest)"
        for service in self.config.services:
            urls[f"{service} API"] = f"{self.service_url(service)}/openapi.json"
        return urls

    # -- environment ------------------------------------------------------------------------------------

    def environment(self, name: str, service: str | None = None) -> dict[str, str]:
        """The environment of one process: dev settings, addresses of everything, then the overrides."""
        env = dict(os.environ) if self.config.inherit_environ else _minimal_environ()
        env.update(
            {
                "POLIS_ENV": "dev",
                "POLIS_VAR_DIR": str(self.base_dir),
                "POLIS_BROKER_URL": self.broker_url,
                "PYTHONUNBUFFERED": "1",
                "NOTIFIER_SMTP_HOST": self.smtp_address[0],
                "NOTIFIER_SMTP_PORT": str(self.smtp_address[1]),
                "IAM_PUBLIC_BASE_URL": self.gateway_url,
                "NOTIFIER_PUBLIC_BASE_URL": self.gateway_url,
                "ENABLEMENT_PUBLIC_BASE_URL": self.gateway_url,
                # Services verify IAM's access tokens (polis.auth): its issuer, and its keys at its own port.
                "POLIS_OIDC_ISSUER": self.gateway_url,
                "POLIS_OIDC_JWKS_URL": f"{self.service_url('iam')}/oidc/jwks",
                # The gateway's workers share refresh outcomes and back-channel logouts through this file.
                "GATEWAY_SESSION_STORE": f"sqlite:///{self.base_dir / 'gateway' / 'sessions.sqlite3'}",
            }
        )
        for svc in SERVICES:
            env[f"{svc.upper()}_DATABASE_URL"] = self.database_url(svc)
            if svc in self.config.ports:
                env[f"{svc.upper()}_BIND"] = f"127.0.0.1:{self.port(svc)}"
                env[f"GATEWAY_{svc.upper()}_URL"] = self.service_url(svc)
        env["GATEWAY_BIND"] = f"127.0.0.1:{self.port('gateway')}"
        env.update(self.config.env)
        if service:
            env.update(self.config.process_env.get(service, {}))
        env.update(self.config.process_env.get(name, {}))
        return env

    # -- building processes -----------------------------------------------------------------------------

    def _add(self, process: ManagedProcess) -> ManagedProcess:
        self.processes[process.name] = process
        return process

    def _rabbitmq(self) -> ManagedProcess:
        home = self.base_dir / "rabbitmq"
        home.mkdir(parents=True, exist_ok=True)
        # A node name of this stack's own: two stacks on one machine (make run beside a test's, or two
        # tests') each start their node; one fixed name made the second fail ("node rabbit already running").
        node = RabbitMQNode(
            home,
            name=f"rabbit-{hashlib.sha256(str(home.resolve()).encode()).hexdigest()[:10]}",
            port=self.port("amqp"),
            dist_port=self.port("rabbitmq_dist"),
            management_port=self.port("rabbitmq_management") if self.config.rabbitmq_management else None,
            log_dir=self.log_dir / "rabbitmq",
            disk_free_limit="50MB",
        )
        try:
            argv = [server_script()]
        except RabbitMQUnavailable as error:
            raise StackError(f"{error}: run `make install`") from None
        broker_url = self.broker_url
        return ManagedProcess(
            "rabbitmq",
            argv,
            cwd=home,
            env=node.environment(self.environment("rabbitmq")),
            log_path=self.log_dir / "rabbitmq.log",
            ready_check=lambda: accepts_connections(broker_url),
            stop_command=node.stop_command(),
        )

    def _maildev(self) -> ManagedProcess:
        maildev = ROOT / "tools" / "maildev" / "node_modules" / ".bin" / "maildev"
        if not maildev.exists():
            raise StackError(f"{maildev} is missing: run `make install`")
        argv = [str(maildev), "--smtp", str(self.port("smtp")), "--web", str(self.port("mail_web"))]
        argv += ["--ip", "127.0.0.1"]
        return ManagedProcess(
            "maildev",
            argv,
            cwd=self.base_dir,
            env=self.environment("maildev"),
            log_path=self.log_dir / "maildev.log",
            ready_check=_tcp_ready(self.port("smtp"), self.port("mail_web")),
        )

    def _gunicorn(self, name: str, cwd: Path, port: int, service: str | None = None) -> ManagedProcess:
        argv = [str(VENV_BIN / "gunicorn"), "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}"]
        argv += ["--workers", str(self.config.web_workers), "wsgi:app"]
        return ManagedProcess(
            name,
            argv,
            cwd=cwd,
            env=self.environment(name, service),
            log_path=self.log_dir / f"{name}.log",
            ready_url=f"http://127.0.0.1:{port}/readyz",
        )

    def _gateway(self) -> ManagedProcess:
        # gateway-web: Granian, listening on GATEWAY_BIND (set in environment()).
        env = {"GATEWAY_WORKERS": str(self.config.web_workers), **self.environment("gateway")}
        return ManagedProcess(
            "gateway",
            [str(VENV_BIN / "python"), "-m", "gateway.server"],
            cwd=ROOT / "gateway",
            env=env,
            log_path=self.log_dir / "gateway.log",
            ready_url=f"http://127.0.0.1:{self.port('gateway')}/readyz",
        )

    def _worker(self, service: str) -> ManagedProcess:
        name = f"{service}-worker"
        return ManagedProcess(
            name,
            [str(VENV_BIN / "python"), "-m", f"{service}.worker"],
            cwd=ROOT / "services" / service,
            env=self.environment(name, service),
            log_path=self.log_dir / f"{name}.log",
        )

    def _one_shot(self, name: str, service: str, argv: list[str]) -> ManagedProcess:
        return ManagedProcess(
            name,
            argv,
            cwd=ROOT / "services" / service,
            env=self.environment(name, service),
            log_path=self.log_dir / f"{name}.log",
        )

    # -- checks -----------------------------------------------------------------------------------------

    def wanted_ports(self) -> dict[int, str]:
        """Every port this stack will listen on, with what listens there."""
        wanted: dict[int, str] = {}
        if not self.config.broker_url:
            for key in ("amqp", "rabbitmq_dist") + (
                ("rabbitmq_management",) if self.config.rabbitmq_management else ()
            ):
                wanted[self.port(key)] = PORT_ROLES[key]
        if not self.config.smtp:
            wanted[self.port("smtp")] = PORT_ROLES["smtp"]
            wanted[self.port("mail_web")] = PORT_ROLES["mail_web"]
        for service in self.config.services:
            wanted[self.port(service)] = f"{service} web"
        if self.config.gateway:
            wanted[self.port("gateway")] = "gateway"
        return wanted

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
            self._add(self._rabbitmq()).start()
        if not self.config.smtp:
            say(f"starting MailDev (SMTP {self.port('smtp')}, inbox {self.port('mail_web')})")
            self._add(self._maildev()).start()

        say("applying migrations" + (" and loading demo data" if self.config.demo_data else ""))
        with ThreadPoolExecutor(max_workers=len(self.config.services) or 1) as pool:
            list(pool.map(self._prepare_service, self.config.services))
        self.timings["migrations"] = time.monotonic() - began

        say("starting the services" + (" and the gateway" if self.config.gateway else ""))
        for service in self.config.services:
            self._add(
                self._gunicorn(f"{service}-web", ROOT / "services" / service, self.port(service), service)
            )
        if self.config.gateway:
            self._add(self._gateway())
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
            worker = self._add(self._worker(service))
            worker.ready_check = functools.partial(queue_exists, self.broker_url, f"{service}.events")
            worker.start()
        for service in consumers:
            self.processes[f"{service}-worker"].wait_ready(60.0, self._abort)
        say("consumers bound; starting the outbox relays")
        for service in self.config.services:
            if service not in CONSUMING_SERVICES:
                self._add(self._worker(service)).start()

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
        process = self._one_shot(name, service, argv)
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


def _minimal_environ() -> dict[str, str]:
    """A hermetic environment: only what locates programs and the locale, nothing of the developer's."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "USER", "LOGNAME")
    return {key: os.environ[key] for key in keep if key in os.environ}


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
