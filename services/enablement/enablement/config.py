"""Enablement settings from the environment: the ones every service has, token verification's, and its own."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polis.service as service
from polis.config import Env
from polis.events import sealing
from polis.ui.pages import page_settings

SERVICE = "enablement"


def _own_settings(env: Env) -> dict[str, Any]:
    return {
        # Where links point, and whom secrets are sealed for: no defaults in production.
        "PUBLIC_BASE_URL": service.public_base_url(env, SERVICE),
        **sealing.sealer_settings(env),
        # Signs the receipt-confirmation links (D-ENA-2).
        "SIGNING_KEY": env.secret("ENABLEMENT_SIGNING_KEY", dev_default="dev-only-enablement-signing-key"),
        # D-ENA-8: a pending request expires after this many days, with a reminder this many days before.
        "REQUEST_TTL_DAYS": env.float("ENABLEMENT_REQUEST_TTL_DAYS", 60.0),
        "REMINDER_DAYS_BEFORE": env.float("ENABLEMENT_REMINDER_DAYS_BEFORE", 7.0),
        "EXPIRY_INTERVAL_SECONDS": env.float("ENABLEMENT_EXPIRY_INTERVAL_SECONDS", 300.0),
        # D-ENA-9: the personal code policy and the throttling of wrong codes.
        "CODE_MIN_LENGTH": env.int("ENABLEMENT_CODE_MIN_LENGTH", 8),
        "ARGON2_MEMORY_KIB": env.int("ENABLEMENT_ARGON2_MEMORY_KIB", 19 * 1024),  # OWASP; tests lower it
        "ARGON2_TIME_COST": env.int("ENABLEMENT_ARGON2_TIME_COST", 2),
        "CODE_DELAY_AFTER": env.int("ENABLEMENT_CODE_DELAY_AFTER", 2),
        "CODE_DELAY_STEP_SECONDS": env.float("ENABLEMENT_CODE_DELAY_STEP_SECONDS", 2.0),
        "CODE_LOCK_THRESHOLD": env.int("ENABLEMENT_CODE_LOCK_THRESHOLD", 6),
        "CODE_LOCK_SECONDS": env.float("ENABLEMENT_CODE_LOCK_SECONDS", 900.0),
        # D-ENA-5: wrong security answers before recovery locks, and for how long.
        "RECOVERY_LOCK_THRESHOLD": env.int("ENABLEMENT_RECOVERY_LOCK_THRESHOLD", 3),
        "RECOVERY_LOCK_SECONDS": env.float("ENABLEMENT_RECOVERY_LOCK_SECONDS", 3600.0),
        "RPC_TIMEOUT": env.float("ENABLEMENT_RPC_TIMEOUT", 5.0),
        # D-ENA-1: where /abilitazione/ sends an enabled user: the personal home of Istanze OnLine.
        "ISTANZE_HOME_URL": env.str("ENABLEMENT_ISTANZE_HOME_URL", "/istanze/"),
        # Pages (enablement.pages): the session cookie holds the CSRF token; only enablement_* cookies pass.
        **page_settings(env, SERVICE),
    }


def load_settings(config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Every enablement setting; `config` overrides them (tests)."""
    return service.load_settings(SERVICE, _own_settings, config=config, verifies_tokens=True)
