"""The IAM worker (`python -m iam.worker`): publishes IAM's outbox to RabbitMQ, delivers the back-channel
logout tokens owed to clients (iam.oidc.backchannel), answers the RPC questions of iam.rpc and rotates the
token signing keys when due (iam.keys.loop)."""

from __future__ import annotations

import sys

from polis.service import relay_loop, run_worker
from prometheus_client import start_http_server

from iam.config import load_settings
from iam.extensions import db
from iam.keys.loop import rotation_loop
from iam.models import outbox
from iam.oidc.backchannel import delivery_loop
from iam.oidc.codes import purge_loop as code_purge_loop
from iam.revocation.loop import revocation_loop
from iam.rpc import responder_loop


def main() -> int:
    settings = load_settings()
    if settings["WORKER_METRICS_PORT"]:
        # The worker's counters (back-channel logouts by outcome) are scraped here.
        start_http_server(settings["WORKER_METRICS_PORT"], addr="127.0.0.1")
    return run_worker(
        settings,
        db,
        lambda: [
            relay_loop(db=db, table=outbox, broker_url=settings["BROKER_URL"]),
            delivery_loop(db=db, settings=settings),
            rotation_loop(settings, db),  # scheduled signing-key rotation
            code_purge_loop(db),  # authorization codes a day after they expired
            responder_loop(db=db, broker_url=settings["BROKER_URL"]),  # iam.check_* for enablement
            revocation_loop(db=db, settings=settings),  # revocation rounds on time (D-REV-2, D-REV-3)
        ],
    )


if __name__ == "__main__":
    sys.exit(main())
