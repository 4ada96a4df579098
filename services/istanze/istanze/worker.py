"""The istanze worker (`python -m istanze.worker`): publishes its outbox, consumes iam.account_revoked, and
sweeps the receipts left pending (a crash between a submission's registration and its receipt's filing)."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from polis.service import consumer_loop, relay_loop, run_worker
from polis.worker import Loop

from istanze.applications.completion import sweep
from istanze.config import SERVICE, load_settings
from istanze.extensions import db
from istanze.messaging.handlers import HANDLERS
from istanze.models import outbox, processed_events

log = logging.getLogger("istanze.worker")


def _now() -> datetime:
    return datetime.now(UTC)


def receipt_sweep_loop(interval: float, after: float, *, now: Callable[[], datetime] = _now) -> Loop:
    """Every `interval` seconds: render, file and email (once) the receipts pending for over `after` s."""

    def run(stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                filed = sweep(db, registered_before=now() - timedelta(seconds=after))
                if filed:
                    log.info("receipt sweep", extra={"filed": filed})
            except Exception:  # the next round tries again; the error is in the log
                log.exception("receipt sweep failed")
            stop.wait(interval)

    return Loop("receipt-sweep", run)


def main() -> int:
    settings = load_settings()
    return run_worker(
        settings,
        db,
        lambda: [
            relay_loop(db=db, table=outbox, broker_url=settings["BROKER_URL"]),
            consumer_loop(
                service=SERVICE,
                db=db,
                table=processed_events,
                broker_url=settings["BROKER_URL"],
                handlers=HANDLERS,
                retry_delays=settings["EVENT_RETRY_DELAYS"],
            ),
            receipt_sweep_loop(settings["RECEIPT_SWEEP_INTERVAL"], settings["RECEIPT_SWEEP_AFTER"]),
        ],
    )


if __name__ == "__main__":
    sys.exit(main())
