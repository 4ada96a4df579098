"""The worker's loop of scheduled signing-key rotations (actor ops:schedule), and of expired keys' removal."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from polis.db import Database
from polis.worker import Loop
from sqlalchemy.exc import SQLAlchemyError

from iam.keys import service as keys

log = logging.getLogger("iam.oidc.key_admin")


CHECK_SECONDS = 300.0  # rotation is due at most once a month: a look every few minutes is plenty
RETRY_SECONDS = 30.0


def rotation_loop(
    settings: Mapping[str, Any], database: Database, *, interval: float = CHECK_SECONDS
) -> Loop:
    """The worker loop of scheduled rotations (`keys.rotate_if_due`). At start it opens every published
    key, so a wrong IAM_KEY_ENCRYPTION_KEY stops the worker with a clear log line instead of surfacing at
    the next login; a database that does not answer is only retried."""
    key_settings = keys.KeySettings.from_config(settings)  # a malformed KEK stops the worker here
    # Now, before any loop starts: the back-channel logout loop signs with these keys too.
    keys.configure(key_settings)

    def run(stop: threading.Event) -> None:
        checked = False
        while True:
            delay = interval
            try:
                if not checked:
                    keys.check_unsealable(database, settings=key_settings)
                    checked = True
                keys.rotate_if_due(database, settings=key_settings)
                keys.delete_expired(database)
            except keys.KeyUnavailable:
                log.error("oidc signing keys do not open with IAM_KEY_ENCRYPTION_KEY: stopping the worker")
                raise
            except SQLAlchemyError as error:
                log.warning("oidc key rotation check failed; retrying", extra={"error": type(error).__name__})
                delay = min(interval, RETRY_SECONDS)
            if stop.wait(delay):
                return

    return Loop("oidc-key-rotation", run)
