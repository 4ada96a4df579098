"""The processes of a development stack, built from its layout: RabbitMQ, MailDev, the web servers, the
workers and one-shot commands (each a ManagedProcess with its log file and readiness check)."""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Callable
from pathlib import Path

from polis.testing.processes import ManagedProcess, StackError
from polis.testing.rabbitmq import RabbitMQNode, RabbitMQUnavailable, accepts_connections, server_script
from polis.testing.stack_layout import ROOT, VENV_BIN, StackLayout


def tcp_ready(*ports: int) -> Callable[[], bool]:
    def check() -> bool:
        for port in ports:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    pass
            except OSError:
                return False
        return True

    return check


def rabbitmq(layout: StackLayout) -> ManagedProcess:
    home = layout.base_dir / "rabbitmq"
    home.mkdir(parents=True, exist_ok=True)
    # A node name of this stack's own: two stacks on one machine (make run beside a test's, or two
    # tests') each start their node; one fixed name made the second fail ("node rabbit already running").
    node = RabbitMQNode(
        home,
        name=f"rabbit-{hashlib.sha256(str(home.resolve()).encode()).hexdigest()[:10]}",
        port=layout.port("amqp"),
        dist_port=layout.port("rabbitmq_dist"),
        management_port=layout.port("rabbitmq_management") if layout.config.rabbitmq_management else None,
        log_dir=layout.log_dir / "rabbitmq",
        disk_free_limit="50MB",
    )
    try:
        argv = [server_script()]
    except RabbitMQUnavailable as error:
        raise StackError(f"{error}: run `make install`") from None
    broker_url = layout.broker_url
    return ManagedProcess(
        "rabbitmq",
        argv,
        cwd=home,
        env=node.environment(layout.environment("rabbitmq")),
        log_path=layout.log_dir / "rabbitmq.log",
        ready_check=lambda: accepts_connections(broker_url),
        stop_command=node.stop_command(),
    )


def maildev(layout: StackLayout) -> ManagedProcess:
    maildev = ROOT / "tools" / "maildev" / "node_modules" / ".bin" / "maildev"
    if not maildev.exists():
        raise StackError(f"{maildev} is missing: run `make install`")
    argv = [str(maildev), "--smtp", str(layout.port("smtp")), "--web", str(layout.port("mail_web"))]
    argv += ["--ip", "127.0.0.1"]
    return ManagedProcess(
        "maildev",
        argv,
        cwd=layout.base_dir,
        env=layout.environment("maildev"),
        log_path=layout.log_dir / "maildev.log",
        ready_check=tcp_ready(layout.port("smtp"), layout.port("mail_web")),
    )


def gunicorn(
    layout: StackLayout, name: str, cwd: Path, port: int, service: str | None = None
) -> ManagedProcess:
    argv = [str(VENV_BIN / "gunicorn"), "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}"]
    argv += ["--workers", str(layout.config.web_workers), "wsgi:app"]
    return ManagedProcess(
        name,
        argv,
        cwd=cwd,
        env=layout.environment(name, service),
        log_path=layout.log_dir / f"{name}.log",
        ready_url=f"http://127.0.0.1:{port}/readyz",
    )


def gateway(layout: StackLayout) -> ManagedProcess:
    # gateway-web: Granian, listening on GATEWAY_BIND (set in environment()).
    env = {"GATEWAY_WORKERS": str(layout.config.web_workers), **layout.environment("gateway")}
    return ManagedProcess(
        "gateway",
        [str(VENV_BIN / "python"), "-m", "gateway.server"],
        cwd=ROOT / "gateway",
        env=env,
        log_path=layout.log_dir / "gateway.log",
        ready_url=f"http://127.0.0.1:{layout.port('gateway')}/readyz",
    )


def worker(layout: StackLayout, service: str) -> ManagedProcess:
    name = f"{service}-worker"
    return ManagedProcess(
        name,
        [str(VENV_BIN / "python"), "-m", f"{service}.worker"],
        cwd=ROOT / "services" / service,
        env=layout.environment(name, service),
        log_path=layout.log_dir / f"{name}.log",
    )


def one_shot(layout: StackLayout, name: str, service: str, argv: list[str]) -> ManagedProcess:
    return ManagedProcess(
        name,
        argv,
        cwd=ROOT / "services" / service,
        env=layout.environment(name, service),
        log_path=layout.log_dir / f"{name}.log",
    )
