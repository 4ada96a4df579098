"""The whole Polis system for one test: polis.testing.devstack on free ports in a temporary directory.

The stack uses the test session's RabbitMQ node (a fresh virtual host per stack), the test's SMTP sink
instead of MailDev, SQLite files by default or PostgreSQL databases of the session cluster, and lets a
test stop, kill or restart any one process and read its log.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
from polis.testing.devstack import Stack
from polis.testing.postgres import PostgresCluster
from polis.testing.processes import ManagedProcess, StackError
from polis.testing.rabbitmq import RabbitMQNode
from polis.testing.smtp import SmtpSink
from polis.testing.stack_layout import SERVICES, StackConfig

from .broker import delete_vhost, new_vhost

__all__ = ["SERVICES", "ManagedProcess", "StackError", "SystemStack", "stack", "stack_factory"]


class SystemStack(Stack):
    """A started stack plus what the test gave it: the SMTP sink, the broker node, its broker URL."""

    def __init__(self, config: StackConfig, *, smtp: SmtpSink, rabbitmq: RabbitMQNode) -> None:
        super().__init__(config)
        self.smtp = smtp
        self.rabbitmq = rabbitmq

    def url(self, path: str = "/") -> str:
        """An absolute URL of the gateway (the public entry)."""
        return self.gateway_url + path

    def api(self, service: str, path: str = "/") -> str:
        """An absolute URL of one service, bypassing the gateway."""
        return self.service_url(service) + path

    def stop_process(self, name: str, sig: int = signal.SIGTERM) -> int | None:
        """Stop one process (e.g. "notifier-worker") with SIGTERM (graceful) or SIGKILL; its exit code."""
        return self.process(name).stop(sig)

    def kill(self, name: str) -> int | None:
        """SIGKILL one process group at once: a crash."""
        return self.process(name).kill()

    def start_process(self, name: str, timeout: float = 60.0) -> ManagedProcess:
        """Start a stopped process again; web processes are waited for until /readyz answers."""
        process = self.process(name).start()
        process.wait_ready(timeout)
        return process

    def restart(self, name: str, sig: int = signal.SIGTERM, timeout: float = 60.0) -> ManagedProcess:
        """Stop one process with `sig`, start it again and wait until it is ready."""
        self.process(name).stop(sig)
        return self.start_process(name, timeout)

    def log(self, name: str) -> str:
        """Everything a process has logged so far (all its lives)."""
        return self.process(name).log_text()


StackFactory = Callable[..., SystemStack]

# The stacks a test started, for its report (pytest_runtest_makereport below).
STARTED = pytest.StashKey[list["SystemStack"]]()
# What a failed test's report shows of each process: its warnings and errors, the last ones.
REPORTED_LINES = 25


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A failed test's report says what each process of its stacks complained about: in CI that is all
    there is to read (the logs are gone with the machine)."""
    report = yield
    if report.when == "call" and report.failed:
        for stack in item.stash.get(STARTED, []):
            if text := stack_trouble(stack):
                report.sections.append(("Captured stack warnings and errors", text))
    return report


def trouble(log: str) -> list[str]:
    """A process log's warnings and errors (JSON lines at warning or worse, gunicorn's and Python's own
    ERROR/CRITICAL lines and tracebacks), a repeated message counted once."""
    lines: list[str] = []
    repeated = 0
    for line in log.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if isinstance(record, dict):
            if record.get("level") not in ("warning", "error", "critical"):
                continue
            when, level, logger = record.get("time", ""), record.get("level"), record.get("logger")
            text = f"{when} {level} {logger}: {record.get('message')}"
        elif any(mark in line for mark in ("ERROR", "CRITICAL", "Traceback", "Error:")):
            text = line
        else:
            continue
        if lines and text.split(" ", 1)[-1] == lines[-1].split(" ", 1)[-1]:
            repeated += 1
            continue
        if repeated:
            lines.append(f"    (the line above {repeated} more times)")
            repeated = 0
        lines.append(text)
    return lines[-REPORTED_LINES:]


def stack_trouble(stack: SystemStack) -> str:
    """Each process's warnings and errors, under its name and log file."""
    parts = []
    for name, process in stack.processes.items():
        if lines := trouble(process.log_text()):
            parts.append(f"--- {name} ({process.log_path})\n" + "\n".join(lines))
    return "\n".join(parts)


@pytest.fixture
def stack_factory(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    rabbitmq_running: RabbitMQNode,
    smtp_sink: SmtpSink,
) -> Iterator[StackFactory]:
    """Start stacks with options; each is stopped at the end of the test. Options:

    databases: "sqlite" (default) or "postgresql" (a fresh database per service in the session cluster)
    database_urls: {service: url} for some services (wins over `databases`)
    env: {NAME: value} for every process; process_env: {"notifier-worker" or "notifier": {NAME: value}}
    services, gateway, demo_data (default True), web_workers (default 1), ready_timeout
    """
    started: list[tuple[SystemStack, str]] = []

    def start(
        *,
        databases: str = "sqlite",
        database_urls: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        process_env: Mapping[str, Mapping[str, str]] | None = None,
        services: tuple[str, ...] = SERVICES,
        **options: Any,
    ) -> SystemStack:
        urls = dict(database_urls or {})
        if databases == "postgresql":
            cluster: PostgresCluster = request.getfixturevalue("postgres")
            for service in services:
                urls.setdefault(service, cluster.create_database())
        elif databases != "sqlite":
            raise ValueError(f"databases must be 'sqlite' or 'postgresql', not {databases!r}")
        broker_url = new_vhost(rabbitmq_running)
        options.setdefault("web_workers", 1)
        config = StackConfig.on_free_ports(
            tmp_path_factory.mktemp("stack"),
            services=services,
            broker_url=broker_url,
            smtp=(smtp_sink.host, smtp_sink.port),
            database_urls=urls,
            # One test drives whole flows from one address; the limit itself is tested in gateway/tests.
            env={"GATEWAY_RATELIMIT_AUTHENTICATION": "600 per minute", **(env or {})},
            process_env={name: dict(values) for name, values in (process_env or {}).items()},
            **options,
        )
        stack = SystemStack(config, smtp=smtp_sink, rabbitmq=rabbitmq_running)
        started.append((stack, broker_url))
        request.node.stash.setdefault(STARTED, []).append(stack)
        stack.start()
        return stack

    yield start
    for stack, broker_url in reversed(started):
        stack.stop()
        delete_vhost(rabbitmq_running, broker_url)


@pytest.fixture
def stack(stack_factory: StackFactory) -> SystemStack:
    """The whole system with default options: SQLite databases, demo data, the test's SMTP sink."""
    return stack_factory()
