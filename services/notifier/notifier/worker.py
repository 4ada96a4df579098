"""The notifier worker (`python -m notifier.worker`): consumes events into deliveries and sends the mail."""

from __future__ import annotations

import sys

from polis.service import consumer_loop, run_worker
from polis.worker import Loop
from prometheus_client import start_http_server

from notifier.config import SERVICE, load_settings
from notifier.delivery.sender import MailSender
from notifier.extensions import begin_immediate_on_sqlite, db
from notifier.messaging.handlers import HANDLERS
from notifier.models import processed_events


def main() -> int:
    settings = load_settings()
    if settings["WORKER_METRICS_PORT"]:
        # The sender's counters (sent, failed, retried, lag) live in this process: scraped here.
        start_http_server(settings["WORKER_METRICS_PORT"], addr="127.0.0.1")

    def loops() -> list[Loop]:
        begin_immediate_on_sqlite(db)
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
