"""Prometheus metrics of the notifier: the sender's counters (worker) and the delivery log's backlog (web)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from polis.db import Database
from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

SENT = Counter("notifier_emails_sent", "Emails accepted by the SMTP server", ["kind"])
FAILED = Counter(
    "notifier_emails_failed", "Deliveries marked failed (5xx, unrenderable, retries ran out)", ["kind"]
)
RETRIED = Counter(
    "notifier_emails_retried", "Temporary failures (4xx, connection) put back for a retry", ["kind"]
)
LAG = Histogram(
    "notifier_email_lag_seconds",
    "From the event's occurrence at its producer to the SMTP server's acceptance",
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 21600),
)


class BacklogCollector(Collector):
    """Read at each scrape from the delivery log: deliveries per state and the oldest due one's age."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterator[Any]:
        from notifier.delivery.service import backlog

        try:
            counts, lag = backlog(db=self.db)
        except Exception:
            return
        by_state = GaugeMetricFamily(
            "notifier_deliveries", "Deliveries in the log by state", labels=["state"]
        )
        for state, count in counts.items():
            by_state.add_metric([state], count)
        yield by_state
        yield GaugeMetricFamily(
            "notifier_delivery_lag_seconds", "Age of the oldest delivery due and not yet sent", value=lag
        )


_registered: list[BacklogCollector] = []


def register_backlog(db: Database) -> None:
    """Once per process (tests create many apps)."""
    if not _registered:
        collector = BacklogCollector(db)
        REGISTRY.register(collector)
        _registered.append(collector)
