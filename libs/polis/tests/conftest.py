"""Fixtures of the polis library tests: the process fixtures plugin, databases with the event tables."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pika
import pytest
from polis.testing.helpers import EventTables, Threads

os.environ.setdefault("POLIS_ENV", "test")


@pytest.fixture
def tables(database_url: str) -> Iterator[EventTables]:
    tables = EventTables(database_url)
    yield tables
    tables.db.dispose()


@pytest.fixture
def threads() -> Iterator[Threads]:
    running = Threads()
    yield running
    running.stop()


@pytest.fixture
def channel(rabbitmq_running: Any) -> Iterator[Any]:
    connection = pika.BlockingConnection(pika.URLParameters(rabbitmq_running.url))
    yield connection.channel()
    if connection.is_open:
        connection.close()
