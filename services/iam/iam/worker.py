"""The IAM worker (`python -m iam.worker`): publishes IAM's outbox to RabbitMQ."""

from __future__ import annotations

import sys

from polis.service import relay_loop, run_worker

from iam.config import load_settings
from iam.extensions import db
from iam.models import outbox


def main() -> int:
    settings = load_settings()
    return run_worker(
        settings, db, lambda: [relay_loop(db=db, table=outbox, broker_url=settings["BROKER_URL"])]
    )


if __name__ == "__main__":
    sys.exit(main())
