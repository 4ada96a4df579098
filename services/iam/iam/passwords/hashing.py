"""argon2id hashing with the OWASP parameters (m=19 MiB, t=2, p=1); hashes are upgraded at login."""

from __future__ import annotations

import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

OWASP_MEMORY_KIB = 19 * 1024
OWASP_TIME_COST = 2
OWASP_PARALLELISM = 1


@functools.cache
def hasher(memory_kib: int = OWASP_MEMORY_KIB, time_cost: int = OWASP_TIME_COST) -> PasswordHasher:
    """The hasher for the given cost (tests may lower it; production keeps the OWASP parameters)."""
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=OWASP_PARALLELISM)


def hash_secret(secret: str, *, ph: PasswordHasher | None = None) -> str:
    """The argon2id hash of a password (or a security answer, or a temporary password)."""
    return (ph or hasher()).hash(secret)


def verify_secret(stored_hash: str | None, secret: str, *, ph: PasswordHasher | None = None) -> bool:
    """True when `secret` matches; an absent or unreadable hash never matches."""
    if not stored_hash:
        return False
    try:
        return (ph or hasher()).verify(stored_hash, secret)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str, *, ph: PasswordHasher | None = None) -> bool:
    """True when the hash was made with other parameters than the current ones: re-hash it at login."""
    return (ph or hasher()).check_needs_rehash(stored_hash)


# A fixed hash to verify against when no account matched, so that the answer takes the same time
# whether or not the username exists (D-ACC-5/6 uniform answers). Computed once per process, lazily.
@functools.cache
def dummy_hash(memory_kib: int = OWASP_MEMORY_KIB, time_cost: int = OWASP_TIME_COST) -> str:
    return hasher(memory_kib, time_cost).hash("polis-no-such-account")
