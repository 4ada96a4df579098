"""The notifier worker (`python -m notifier.worker`): consumes events into deliveries and sends the mail."""

from __future__ import annotations

import sys

from polis.service import consumer_loop, run_worker
from polis.worker import Loop

from notifier.config import SERVICE, load_settings
from notifier.delivery.sender import MailSender
from notifier.extensions import db
from notifier.messaging.handlers import HANDLERS
from notifier.models import processed_events


def main() -> int:
    settings = load_settings()

    def loops() -> list[Loop]:
        consumer = consumer_loop(
            service=SERVICE,
            db=db,
            table=processed_events,
            broker_url=settings["BROKER_URL"],
            handlers=HANDLERS,
            retry_delays=settings["EVENT_RETRY_DELAYS"],
        )
        sender = MailSender.from_settings(settings, db)
        return [consumer, Loop("mail-sender", sender.run)]

    return run_worker(settings, db, loops)


if __name__ == "__main__":
    sys.exit(main())
