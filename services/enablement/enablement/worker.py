"""The enablement worker (`python -m enablement.worker`): outbox relay, IAM's facts, expiry (D-ENA-8) and
the RPC responder of enablement.check_personal_code."""

from __future__ import annotations

import logging
import sys
import threading
from datetime import timedelta

from polis.rpc import RpcResponder
from polis.service import consumer_loop, relay_loop, run_worker
from polis.worker import Loop

from enablement.config import SERVICE, load_settings
from enablement.extensions import db
from enablement.messaging import rpc
from enablement.messaging.handlers import HANDLERS
from enablement.models import outbox, processed_events
from enablement.personal_codes.service import CodePolicy
from enablement.requests import expiry

log = logging.getLogger("enablement.worker")


def _expiry_loop(interval: float, reminder_before: timedelta) -> Loop:
    def run(stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                reminded = expiry.remind_due(db=db, reminder_before=reminder_before)
                expired = expiry.expire_due(db=db)
                if reminded or expired:
                    log.info("expiry round", extra={"reminded": reminded, "expired": expired})
            except Exception:  # the next round tries again; the error is in the log
                log.exception("expiry round failed")
            stop.wait(interval)

    return Loop("request-expiry", run)


def _responder_loop(broker_url: str, policy: CodePolicy) -> Loop:
    """enablement.check_personal_code answered from the queue rpc.enablement (polis.rpc)."""

    def run(stop: threading.Event) -> None:
        RpcResponder(broker_url, service=SERVICE, handlers=rpc.handlers(db=db, policy=policy)).run(stop)

    return Loop("rpc-responder", run)


def main() -> int:
    settings = load_settings()
    policy = CodePolicy.from_settings(settings)

    def loops() -> list[Loop]:
        return [
            relay_loop(db=db, table=outbox, broker_url=settings["BROKER_URL"]),
            consumer_loop(
                service=SERVICE,
                db=db,
                table=processed_events,
                broker_url=settings["BROKER_URL"],
                handlers=HANDLERS,
                retry_delays=settings["EVENT_RETRY_DELAYS"],
            ),
            _expiry_loop(
                settings["EXPIRY_INTERVAL_SECONDS"], timedelta(days=settings["REMINDER_DAYS_BEFORE"])
            ),
            _responder_loop(settings["BROKER_URL"], policy),
        ]

    return run_worker(settings, db, loops)


if __name__ == "__main__":
    sys.exit(main())
