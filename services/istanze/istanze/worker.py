"""The istanze worker (`python -m istanze.worker`): publishes its outbox (consumes nothing yet)."""

from __future__ import annotations

import sys

from polis.service import relay_loop, run_worker

from istanze.config import load_settings
from istanze.extensions import db
from istanze.models import outbox


def main() -> int:
    settings = load_settings()
    return run_worker(
        settings, db, lambda: [relay_loop(db=db, table=outbox, broker_url=settings["BROKER_URL"])]
    )


if __name__ == "__main__":
    sys.exit(main())
