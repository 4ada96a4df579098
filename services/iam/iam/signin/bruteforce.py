"""Brute-force protection per account (issue 3 item 9), on by default.

After `threshold` consecutive failures each further failure locks the name for a growing time: `step`,
2 x `step`, ... up to `max_wait`. The count restarts after `reset_after` without failures, and at
`hard_limit` consecutive failures (at most 100, NIST SP 800-63B) the name stays locked: no more guesses.
The lock then ends only by proof of the mailbox (the single-use link unlock.py emails to the account's
addresses, issue 11 item 5) or by ops, so a stranger who spends the 100 failures denies nothing for good.
Usernames that match no account keep the same counters in their own table (LoginThrottle), so a lock
tells nothing about whether the account exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from polis.config import ConfigError

NIST_MAX_FAILURES = 100
# "Until the owner's unlock link or ops": far enough to never pass, representable in every database.
HARD_LOCK = datetime(9999, 1, 1, tzinfo=UTC)


class Lockable(Protocol):
    @property
    def locked_until(self) -> datetime | None: ...


class Counter(Protocol):
    failed_logins: int
    last_failed_login_at: datetime | None
    locked_until: datetime | None


@dataclass(frozen=True)
class LockPolicy:
    threshold: int
    step: timedelta
    max_wait: timedelta
    reset_after: timedelta
    hard_limit: int

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> LockPolicy:
        policy = cls(
            threshold=settings["LOGIN_LOCK_THRESHOLD"],
            step=timedelta(seconds=settings["LOGIN_LOCK_STEP_SECONDS"]),
            max_wait=timedelta(seconds=settings["LOGIN_LOCK_MAX_SECONDS"]),
            reset_after=timedelta(hours=settings["LOGIN_FAILURE_RESET_HOURS"]),
            hard_limit=settings["LOGIN_MAX_CONSECUTIVE_FAILURES"],
        )
        if not 1 <= policy.threshold <= policy.hard_limit <= NIST_MAX_FAILURES:
            raise ConfigError(
                "IAM_LOGIN_LOCK_THRESHOLD must be at least 1 and at most IAM_LOGIN_MAX_CONSECUTIVE_FAILURES, "
                f"which may not exceed {NIST_MAX_FAILURES} (NIST SP 800-63B)"
            )
        if policy.step <= timedelta(0) or policy.max_wait < policy.step:
            raise ConfigError(
                "IAM_LOGIN_LOCK_STEP_SECONDS must be positive and at most IAM_LOGIN_LOCK_MAX_SECONDS"
            )
        return policy


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def locked_until(counter: Lockable, now: datetime) -> datetime | None:
    """When the lock ends, or None when the name may try now."""
    until = _utc(counter.locked_until)
    return until if until is not None and until > now else None


def at_ceiling(counter: Lockable) -> bool:
    """Whether the name is locked at the hard limit (not by a lock that ends by itself)."""
    until = _utc(counter.locked_until)
    return until is not None and until >= HARD_LOCK


def register_failure(counter: Counter, policy: LockPolicy, now: datetime) -> datetime | None:
    """Count one failure; returns the end of the lock it causes, if any."""
    last = _utc(counter.last_failed_login_at)
    if last is not None and now - last > policy.reset_after and locked_until(counter, now) is None:
        counter.failed_logins = 0
    counter.failed_logins = (counter.failed_logins or 0) + 1
    counter.last_failed_login_at = now
    if counter.failed_logins >= policy.hard_limit:
        counter.locked_until = HARD_LOCK
    elif counter.failed_logins >= policy.threshold:
        steps = counter.failed_logins - policy.threshold + 1
        counter.locked_until = now + min(policy.step * steps, policy.max_wait)
    return locked_until(counter, now)


def reset(counter: Counter) -> None:
    """After a correct password, an unlock link, or an unlock by ops."""
    counter.failed_logins = 0
    counter.last_failed_login_at = None
    counter.locked_until = None
