"""Issue 11 item 6: the test broker's AMQP and Erlang distribution ports listen on loopback only."""

from __future__ import annotations

import subprocess

from polis.testing.rabbitmq import RabbitMQNode


def listening_addresses(port: int) -> set[str]:
    """The local addresses a TCP socket listens on for `port` (from `ss`, IPv4 and IPv6)."""
    out = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True, check=True)
    return {line.split()[3].rsplit(":", 1)[0] for line in out.stdout.splitlines() if line.strip()}


def test_the_broker_listens_on_loopback_only(rabbitmq_running: RabbitMQNode) -> None:
    assert listening_addresses(rabbitmq_running.port) == {"127.0.0.1"}
    # The distribution port listened on every interface (0.0.0.0 and [::]) before.
    assert listening_addresses(rabbitmq_running.dist_port) == {"127.0.0.1"}
