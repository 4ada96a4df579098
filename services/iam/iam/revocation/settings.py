"""Settings of the revocation rounds (read by iam.config): batches, pacing, reminders, the test clock."""

from __future__ import annotations

from typing import Any

from polis.config import ConfigError, Env


def revocation_settings(env: Env) -> dict[str, Any]:
    reminders = env.str("IAM_REVOCATION_REMINDER_DAYS", "30,7,1")
    try:
        days = sorted({int(part) for part in reminders.split(",") if part.strip()}, reverse=True)
    except ValueError:
        raise ConfigError("IAM_REVOCATION_REMINDER_DAYS must be comma-separated whole days") from None
    if any(day < 1 for day in days):
        raise ConfigError("IAM_REVOCATION_REMINDER_DAYS must be at least 1 day each")
    clock_file = env.str("IAM_REVOCATION_CLOCK_FILE", "") or None
    if clock_file and env.name != "test":
        raise ConfigError("IAM_REVOCATION_CLOCK_FILE is only allowed with POLIS_ENV=test")
    return {
        "REVOCATION_REMINDER_DAYS": days,  # D-REV-5: the default schedule of a new round
        "REVOCATION_BATCH_SIZE": max(1, env.int("IAM_REVOCATION_BATCH_SIZE", 5000)),
        # Notices written per second: at or below the notifier's NOTIFIER_SEND_RATE_LIMIT (0: unpaced).
        "REVOCATION_NOTICES_PER_SECOND": env.float("IAM_REVOCATION_NOTICES_PER_SECOND", 20.0),
        # No new notices while this many events wait unsent in the outbox (broker away, relay behind).
        "REVOCATION_MAX_OUTBOX_BACKLOG": env.int("IAM_REVOCATION_MAX_OUTBOX_BACKLOG", 10_000),
        # A pause after every batch of notices or revocations (0: none), to spare the database.
        "REVOCATION_BATCH_PAUSE_SECONDS": max(0.0, env.float("IAM_REVOCATION_BATCH_PAUSE_SECONDS", 0.0)),
        "REVOCATION_POLL_SECONDS": env.float("IAM_REVOCATION_POLL_SECONDS", 15.0),
        "REVOCATION_SAMPLE_SIZE": env.int("IAM_REVOCATION_SAMPLE_SIZE", 20),
        # Tests only: a file holding seconds added to the clock of the rounds (the deadline passes).
        "REVOCATION_CLOCK_FILE": clock_file,
    }
