"""IAM settings from the environment; the sealing key of the notifier is required in production."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polis.service as service
from polis.config import Env
from polis.events import sealing

SERVICE = "iam"


def _own_settings(env: Env) -> dict[str, Any]:
    def dev(value: str) -> str | None:
        # A default only where mistakes are harmless: production must say where links point and whom
        # secrets are sealed for.
        return None if env.is_production else value

    return {
        "PUBLIC_BASE_URL": env.str("IAM_PUBLIC_BASE_URL", dev("http://localhost:8080")).rstrip("/"),
        "EMAIL_CONFIRMATION_TTL_HOURS": env.float("IAM_EMAIL_CONFIRMATION_TTL_HOURS", 24.0),
        "NOTIFIER_SEALING_PUBLIC_KEY": env.str("NOTIFIER_SEALING_PUBLIC_KEY", dev(sealing.DEV_PUBLIC_KEY)),
        "NOTIFIER_SEALING_KEY_ID": env.str("NOTIFIER_SEALING_KEY_ID", dev(sealing.DEV_KEY_ID)),
    }


def load_settings(config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Every IAM setting; `config` overrides them (tests)."""
    return service.load_settings(SERVICE, _own_settings, config=config)
