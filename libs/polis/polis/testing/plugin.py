"""pytest plugin of the Polis test suites: `rabbitmq`, `postgres` and `database_url` fixtures.

Load it with ``pytest_plugins = ["polis.testing.plugin"]`` in a conftest.py. Set
``POLIS_TEST_DATABASES=sqlite`` to run the database tests on SQLite only (PostgreSQL is on by default and a
missing installation fails the run with a message instead of skipping silently).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from polis.testing.postgres import PostgresCluster, PostgresUnavailable
from polis.testing.rabbitmq import RabbitMQNode, RabbitMQUnavailable

# Shared test classes get pytest's detailed assertion messages too (imported by the test modules later).
pytest.register_assert_rewrite("polis.testing.token_contract", "polis.testing.platform_contract")

DATABASE_KINDS = ("sqlite", "postgresql")


def _selected_databases() -> list[str]:
    raw = os.environ.get("POLIS_TEST_DATABASES", ",".join(DATABASE_KINDS))
    chosen = [kind.strip() for kind in raw.split(",") if kind.strip()]
    unknown = set(chosen) - set(DATABASE_KINDS)
    if unknown:
        raise pytest.UsageError(f"POLIS_TEST_DATABASES: unknown {sorted(unknown)}; use {DATABASE_KINDS}")
    return chosen


@pytest.fixture(scope="session")
def rabbitmq(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitMQNode]:
    """A private RabbitMQ node for the whole session; tests may kill() and start() it."""
    node = RabbitMQNode(tmp_path_factory.mktemp("rabbitmq"))
    try:
        node.start().wait_ready()
    except RabbitMQUnavailable as error:
        node.stop()
        pytest.fail(str(error), pytrace=False)
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture
def rabbitmq_running(rabbitmq: RabbitMQNode) -> RabbitMQNode:
    """The session node, restarted first if an earlier fault test left it down."""
    if not rabbitmq.running:
        rabbitmq.start().wait_ready()
    return rabbitmq


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """A private PostgreSQL cluster for the whole session."""
    try:
        cluster = PostgresCluster().start()
    except PostgresUnavailable as error:
        pytest.fail(str(error), pytrace=False)
    try:
        yield cluster
    finally:
        cluster.cleanup()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # Parametrised here rather than in the fixture so that POLIS_TEST_DATABASES can narrow the set.
    if "database_url" in metafunc.fixturenames:
        metafunc.parametrize("database_kind", _selected_databases(), indirect=True)


@pytest.fixture
def database_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(database_kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database for one test: a SQLite file, or a new database in the session cluster."""
    if database_kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.sqlite3'}"
        return
    cluster: PostgresCluster = request.getfixturevalue("postgres")
    url = cluster.create_database()
    try:
        yield url
    finally:
        cluster.drop_database(url.rsplit("/", 1)[1])
