"""Notifier settings from the environment: SMTP, sender address, sealing keys (required in production)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polis.service as service
from polis.config import DEFAULT_HELPDESK_HOURS, DEFAULT_HELPDESK_PHONE, ConfigError, Env, Secret
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
    if (
        env.is_production
        and env.str("NOTIFIER_SMTP_USERNAME", "")
        and not env.str("NOTIFIER_SMTP_PASSWORD", "")
    ):
        raise ConfigError("NOTIFIER_SMTP_PASSWORD is required with NOTIFIER_SMTP_USERNAME")
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
        # A CA bundle to trust for the relay's certificate (starttls, ssl) besides the system's.
        "SMTP_CA_FILE": env.str("NOTIFIER_SMTP_CA_FILE", ""),
        # Processes running the mail sender beside the worker's consumer (0: a thread of the worker).
        "SENDER_PROCESSES": _at_least(env, "NOTIFIER_SENDER_PROCESSES", 1, minimum=0),
        # Parallel SMTP connections, each kept open across batches.
        "SMTP_CONNECTIONS": _positive(env, "NOTIFIER_SMTP_CONNECTIONS", 4),
        # Outbound messages per second over all connections; 0: no limit.
        "SEND_RATE_LIMIT": env.float("NOTIFIER_SEND_RATE_LIMIT", 0.0),
        "SEND_BATCH_SIZE": _positive(env, "NOTIFIER_SEND_BATCH_SIZE", 100),
        # Each connection records its accepted messages every this many: the duplicates window on a crash.
        "SENT_FLUSH_EVERY": _positive(env, "NOTIFIER_SENT_FLUSH_EVERY", 10),
        "SEND_POLL_INTERVAL": env.float("NOTIFIER_SEND_POLL_INTERVAL", 1.0),
        "SEND_MAX_ATTEMPTS": _positive(env, "NOTIFIER_SEND_MAX_ATTEMPTS", 50),
        # Temporary failures: waits between attempts, and how long after the first one the notifier gives up.
        "SEND_RETRY_DELAYS": env.delays("NOTIFIER_SEND_RETRY_DELAYS", "30,120,600,1800,3600"),
        "SEND_RETRY_FOR_SECONDS": env.float("NOTIFIER_SEND_RETRY_FOR_SECONDS", 48 * 3600.0),
        "SENDING_LEASE_SECONDS": env.float("NOTIFIER_SENDING_LEASE_SECONDS", 600.0),
        # Links in emails are built from this (the gateway's public address): required in production.
        "PUBLIC_BASE_URL": service.public_base_url(env, SERVICE),
        "PRODUCT_NAME": env.str("NOTIFIER_PRODUCT_NAME", "Istanze OnLine"),
        # D-ACC-9: the helpdesk contact in every email's footer: the same settings as the pages' footer.
        "HELPDESK_PHONE": env.str("POLIS_HELPDESK_PHONE", DEFAULT_HELPDESK_PHONE),
        "HELPDESK_HOURS_IT": env.str("POLIS_HELPDESK_HOURS", DEFAULT_HELPDESK_HOURS["it"]),
        "HELPDESK_HOURS_EN": env.str("POLIS_HELPDESK_HOURS_EN", DEFAULT_HELPDESK_HOURS["en"]),
        "HELPDESK_EMAIL": env.str("POLIS_HELPDESK_EMAIL", ""),
        # The ops API's static break-glass token (ops tools use an IAM access token with the ops role).
        "OPS_TOKEN": env.secret("NOTIFIER_OPS_TOKEN", "dev-notifier-ops-token"),
        # Port of the worker's Prometheus endpoint (sent, failed, retried, lag); 0: none.
        "WORKER_METRICS_PORT": env.int("NOTIFIER_WORKER_METRICS_PORT", 0),
    }


def _positive(env: Env, name: str, default: int) -> int:
    return _at_least(env, name, default, minimum=1)


def _at_least(env: Env, name: str, default: int, *, minimum: int) -> int:
    value = env.int(name, default)
    if value < minimum:
        raise ConfigError(f"setting {name} must be at least {minimum}")
    return value


def load_settings(config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Every notifier setting; `config` overrides them (tests)."""
    return service.load_settings(SERVICE, _own_settings, config=config, verifies_tokens=True)
