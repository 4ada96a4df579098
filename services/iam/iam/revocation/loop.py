"""IAM's worker loop of revocation rounds: on time, with no external cron, it sends each due notice in paced
batches and starts and carries out the execution at the deadline (D-REV-2, D-REV-3)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from polis.db import Database
from polis.worker import Loop
from sqlalchemy.exc import OperationalError

from iam.revocation import clock, service

log = logging.getLogger("iam.revocation")


def revocation_loop(*, db: Database, settings: Mapping[str, Any]) -> Loop:
    """A batch at a time; a notice batch is followed by the pause its size takes at the configured rate,
    and no notice is written while the outbox holds a backlog (the broker or the relay is behind)."""
    clock.configure(settings)
    batch_size = settings["REVOCATION_BATCH_SIZE"]
    rate = settings["REVOCATION_NOTICES_PER_SECOND"]
    backlog = settings["REVOCATION_MAX_OUTBOX_BACKLOG"]
    poll = settings["REVOCATION_POLL_SECONDS"]
    pause = settings["REVOCATION_BATCH_PAUSE_SECONDS"]

    def run(stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                if backlog and service.outbox_backlog(db=db) >= backlog:
                    stop.wait(poll)
                    continue
                step = service.work_once(db=db, batch_size=batch_size)
            except OperationalError:  # the database is away: wait and try again, like the relay
                log.warning("revocation pass failed: database unavailable", exc_info=True)
                stop.wait(max(poll, 5.0))
                continue
            if step.kind == "idle":
                stop.wait(poll)
                continue
            log.info(
                "revocation batch",
                extra={
                    "round_id": str(step.round_id),
                    "step": step.kind,
                    "count": step.count,
                    "notice": step.notice,
                },
            )
            wait = step.count / rate if step.kind == "notice" and rate > 0 and step.count else 0.0
            if wait or pause:
                stop.wait(max(wait, pause))

    return Loop("revocation-rounds", run)
