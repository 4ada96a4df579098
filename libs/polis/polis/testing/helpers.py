"""Helpers for tests of code built on polis: polling with a deadline, background loops, event tables."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import MetaData, Table

from polis.db import Database
from polis.events.outbox import define_outbox
from polis.events.processed import define_processed_events


class EventTables:
    """A database with an outbox and a processed_events table, as a service would define them."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.metadata = MetaData()
        self.outbox: Table = define_outbox(self.metadata)
        self.processed: Table = define_processed_events(self.metadata)
        self.db = Database(url)
        self.metadata.create_all(self.db.engine)


def wait_until(predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.05) -> Any:
    """Poll predicate until it returns something truthy; fail with a timeout otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


class Threads:
    """Background loops (relays, consumers) started by a test and always stopped after it."""

    def __init__(self) -> None:
        self.stop_event = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self, target: Callable[[], None]) -> threading.Thread:
        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        self._threads.append(thread)
        return thread

    def stop(self) -> None:
        self.stop_event.set()
        for thread in self._threads:
            thread.join(timeout=30)
            assert not thread.is_alive(), "a background loop did not stop"
