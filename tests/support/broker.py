"""A fresh RabbitMQ virtual host per stack, so tests that share one broker never see each other's messages;
the operator's parking-queue command as the tests run it."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from polis.testing.rabbitmq import RabbitMQNode, server_script


def _ctl(node: RabbitMQNode, *args: str) -> None:
    # rabbitmqctl must share the node's Erlang cookie, which lives in the node's HOME (its base dir).
    ctl = str(Path(server_script()).with_name("rabbitmqctl"))
    env = {**os.environ, "HOME": str(node.base_dir)}
    result = subprocess.run(
        [ctl, "-n", node.nodename, *args], env=env, capture_output=True, text=True, check=False, timeout=60
    )
    if result.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")


def new_vhost(node: RabbitMQNode, prefix: str = "stack") -> str:
    """Create a virtual host that guest may use fully; return the AMQP URL that points into it."""
    vhost = f"{prefix}-{uuid.uuid4().hex[:8]}"
    _ctl(node, "add_vhost", vhost)
    _ctl(node, "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    return f"amqp://guest:guest@localhost:{node.port}/{quote(vhost, safe='')}"


def delete_vhost(node: RabbitMQNode, url: str) -> None:
    """Drop the virtual host of `url` with everything in it (best effort: the node may be down)."""
    vhost = unquote(url.rsplit("/", 1)[1])
    if node.running:
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            _ctl(node, "delete_vhost", vhost)


def parking(broker_url: str, *args: str, service: str = "notifier") -> Any:
    """Run the operator command on a service's parking queue (python -m polis.events.parking, e.g.
    "list" or "replay", "--all"); its JSON answer."""
    result = subprocess.run(
        [
            *(sys.executable, "-m", "polis.events.parking"),
            *("--broker-url", broker_url, "--service", service, "--json", *args),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
