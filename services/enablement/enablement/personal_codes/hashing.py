"""argon2id at the OWASP parameters (m=19 MiB, t=2, p=1); hashes made with others are redone on success."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

OWASP_MEMORY_KIB = 19 * 1024
OWASP_TIME_COST = 2


@functools.cache
def hasher(memory_kib: int = OWASP_MEMORY_KIB, time_cost: int = OWASP_TIME_COST) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)


def hasher_from_settings(settings: Mapping[str, Any]) -> PasswordHasher:
    return hasher(settings["ARGON2_MEMORY_KIB"], settings["ARGON2_TIME_COST"])


def verify(ph: PasswordHasher, stored_hash: str | None, code: str) -> bool:
    """True when `code` matches; an absent or unreadable hash never matches."""
    if not stored_hash:
        return False
    try:
        return ph.verify(stored_hash, code)
    except (VerificationError, InvalidHashError):
        return False


@functools.cache
def dummy_hash(ph: PasswordHasher) -> str:
    """Verified against when an account has no code, so the answer takes as long either way."""
    return ph.hash("polis-no-personal-code")
