"""The istanze worker (`python -m istanze.worker`): publishes its outbox, consumes iam.account_revoked."""

from __future__ import annotations

import sys

from polis.service import consumer_loop, relay_loop, run_worker

from istanze.config import SERVICE, load_settings
from istanze.extensions import db
from istanze.messaging.handlers import HANDLERS
from istanze.models import outbox, processed_events


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
        ],
    )


if __name__ == "__main__":
    sys.exit(main())
