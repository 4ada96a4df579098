"""Where a development stack's pieces are: its configuration, each address and each process's environment.

`StackConfig` says what to start and where; `StackLayout` answers the addresses (ports, URLs, databases)
and builds the environment of every process from them. polis.testing.devstack's `Stack` is a layout that
also starts and stops the processes (polis.testing.stack_processes builds them).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from polis.testing.ports import free_port

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


class StackLayout:
    """The addresses of a configured stack and the environment of each of its processes."""

    def __init__(self, config: StackConfig | None = None) -> None:
        self.config = config or StackConfig()
        self.base_dir = self.config.base_dir.resolve()
        self.log_dir = self.base_dir / "log"

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
        env = dict(os.environ) if self.config.inherit_environ else minimal_environ()
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


def minimal_environ() -> dict[str, str]:
    """A hermetic environment: only what locates programs and the locale, nothing of the developer's."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "USER", "LOGNAME")
    return {key: os.environ[key] for key in keep if key in os.environ}
