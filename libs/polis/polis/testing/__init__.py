"""Process fixtures for tests: a private RabbitMQ node and a throwaway PostgreSQL cluster."""

from polis.testing.ports import free_port
from polis.testing.postgres import PostgresCluster, PostgresUnavailable
from polis.testing.rabbitmq import RabbitMQNode

__all__ = ["PostgresCluster", "PostgresUnavailable", "RabbitMQNode", "free_port"]
