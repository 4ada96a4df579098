"""The enablement worker (`python -m enablement.worker`): publishes its outbox (consumes nothing yet)."""

from __future__ import annotations

import sys

from polis.service import relay_loop, run_worker

from enablement.config import load_settings
from enablement.extensions import db
from enablement.models import outbox


def main() -> int:
    settings = load_settings()
    return run_worker(
        settings, db, lambda: [relay_loop(db=db, table=outbox, broker_url=settings["BROKER_URL"])]
    )


if __name__ == "__main__":
    sys.exit(main())
