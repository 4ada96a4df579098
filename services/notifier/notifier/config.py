"""Notifier settings from the environment: SMTP, sender address, sealing keys (required in production)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polis.service as service
from polis.config import ConfigError, Env, Secret
from polis.events import sealing

SERVICE = "notifier"
SMTP_SECURITY = ("none", "starttls", "ssl")


def parse_private_keys(secret: Secret) -> dict[str, str]:
    """`kid:base64,kid:base64`: an old key stays listed while events sealed to it still drain."""
    keys: dict[str, str] = {}
    for item in secret.reveal().split(","):
        key_id, separator, private_key = item.strip().partition(":")
        if not separator or not key_id or not private_key:
            raise ConfigError("NOTIFIER_SEALING_PRIVATE_KEYS must be a comma-separated list of kid:base64")
        keys[key_id] = private_key
    return keys


def _own_settings(env: Env) -> dict[str, Any]:
    security = env.str("NOTIFIER_SMTP_SECURITY", "none").lower()
    if security not in SMTP_SECURITY:
        raise ConfigError(f"NOTIFIER_SMTP_SECURITY must be one of {', '.join(SMTP_SECURITY)}")
    return {
        "SEALING_PRIVATE_KEYS": env.secret(
            "NOTIFIER_SEALING_PRIVATE_KEYS", f"{sealing.DEV_KEY_ID}:{sealing.DEV_PRIVATE_KEY}"
        ),
        "MAIL_FROM": env.str("NOTIFIER_MAIL_FROM", "Istanze OnLine <noreply@istanze.localhost>"),
        "SMTP_HOST": env.str("NOTIFIER_SMTP_HOST", "localhost"),
        "SMTP_PORT": env.int("NOTIFIER_SMTP_PORT", 1025),
        "SMTP_SECURITY": security,
        "SMTP_USERNAME": env.str("NOTIFIER_SMTP_USERNAME", ""),
        "SMTP_PASSWORD": Secret(env.str("NOTIFIER_SMTP_PASSWORD", "")),
        "SMTP_TIMEOUT": env.float("NOTIFIER_SMTP_TIMEOUT", 20.0),
        "SEND_BATCH_SIZE": env.int("NOTIFIER_SEND_BATCH_SIZE", 20),
        "SEND_POLL_INTERVAL": env.float("NOTIFIER_SEND_POLL_INTERVAL", 1.0),
        "SEND_MAX_ATTEMPTS": env.int("NOTIFIER_SEND_MAX_ATTEMPTS", 10),
        "SENDING_LEASE_SECONDS": env.float("NOTIFIER_SENDING_LEASE_SECONDS", 600.0),
    }


def load_settings(config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Every notifier setting; `config` overrides them (tests)."""
    return service.load_settings(SERVICE, _own_settings, config=config)
