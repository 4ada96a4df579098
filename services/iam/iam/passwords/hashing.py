"""argon2id for IAM's secrets (passwords, security answers): the project's one implementation in
`polis.hashing` (OWASP parameters, bounded to the cores); hashes are upgraded at login."""

from __future__ import annotations

from polis.hashing import (
    OWASP_MEMORY_KIB,
    OWASP_PARALLELISM,
    OWASP_TIME_COST,
    dummy_hash,
    hash_secret,
    hasher,
    needs_rehash,
    verify_secret,
)

__all__ = [
    "OWASP_MEMORY_KIB",
    "OWASP_PARALLELISM",
    "OWASP_TIME_COST",
    "dummy_hash",
    "hash_secret",
    "hasher",
    "needs_rehash",
    "verify_secret",
]
