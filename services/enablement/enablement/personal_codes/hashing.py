"""argon2id at the OWASP parameters (m=19 MiB, t=2, p=1); hashes made with others are redone on success.

Every verify and hash goes through polis.hashing, which bounds the argon2 computations a process runs at
once to its cores: the RPC responder serves from more threads than there are cores (so a core never waits
while a thread talks to the broker or the database), and only the cores' worth of them run argon2 at once.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from argon2 import PasswordHasher
from polis import hashing as polis_hashing

OWASP_MEMORY_KIB = 19 * 1024
OWASP_TIME_COST = 2


@functools.cache
def hasher(memory_kib: int = OWASP_MEMORY_KIB, time_cost: int = OWASP_TIME_COST) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)


def hasher_from_settings(settings: Mapping[str, Any]) -> PasswordHasher:
    return hasher(settings["ARGON2_MEMORY_KIB"], settings["ARGON2_TIME_COST"])


def verify(ph: PasswordHasher, stored_hash: str | None, code: str) -> bool:
    """True when `code` matches; an absent or unreadable hash never matches."""
    return polis_hashing.verify_secret(stored_hash, code, ph=ph)


def make(ph: PasswordHasher, code: str) -> str:
    """The argon2id hash of a code, computed when a core is free."""
    return polis_hashing.hash_secret(code, ph=ph)


@functools.cache
def dummy_hash(ph: PasswordHasher) -> str:
    """Verified against when an account has no code, so the answer takes as long either way."""
    return make(ph, "polis-no-personal-code")
