"""polis[testing], for development and tests only: the process helpers (private RabbitMQ, PostgreSQL, SMTP
sink, free ports), the development stack (devstack), the pytest plugin and the contracts services' tests
subclass. No runtime code imports it; the runtime images do not install its extra."""

from polis.testing.ports import free_port
from polis.testing.postgres import PostgresCluster, PostgresUnavailable
from polis.testing.rabbitmq import RabbitMQNode

__all__ = ["PostgresCluster", "PostgresUnavailable", "RabbitMQNode", "free_port"]
