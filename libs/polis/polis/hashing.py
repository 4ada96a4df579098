"""argon2id for every secret a person types (passwords, answers, personal codes), bounded to the cores.

The OWASP parameters (m=19 MiB, t=2, p=1). Each verification is one core's work for about 30 ms over
19 MiB of memory: a web process with eight threads ran up to eight at once per process on two cores, and
they evicted each other from the caches (16 threads: 35.6 ms of CPU per verify against 30.3 ms for two,
issue 18). So the verifications and hashes in flight in one process are bounded: the others wait in line,
which costs them nothing but time they would have lost anyway sharing the cores.

The bound is POLIS_ARGON2_CONCURRENCY when set, else the cores this process may use divided among the web
process's gunicorn workers (`polis.service` sets it after the fork), at least one.

What the computations cost is counted on /metrics: `polis_argon2_cpu_seconds_total` (the computing thread's
own CPU time, so the wait at the gate is not in it) and `polis_argon2_computations_total`, by operation
(verify, hash): the CPU of one verify as the service sees it under load, beside the bare figure (issue 18).
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from prometheus_client import Counter

OWASP_MEMORY_KIB = 19 * 1024
OWASP_TIME_COST = 2
OWASP_PARALLELISM = 1


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_concurrency(processes: int = 1) -> int:
    configured = os.environ.get("POLIS_ARGON2_CONCURRENCY", "").strip()
    if configured:
        value = int(configured)
        if value < 1:
            raise ValueError("POLIS_ARGON2_CONCURRENCY must be at least 1")
        return value
    return max(1, available_cores() // max(1, processes))


class _Gate:
    """A semaphore whose size can be set once the process knows its place (after gunicorn's fork)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._semaphore = threading.BoundedSemaphore(size)

    def resize(self, size: int) -> None:
        if size < 1:
            raise ValueError("at least one argon2 computation must be allowed at once")
        self.size = size
        self._semaphore = threading.BoundedSemaphore(size)

    @contextmanager
    def held(self) -> Iterator[None]:
        semaphore = self._semaphore  # a resize never strands a holder: it releases what it took
        with semaphore:
            yield


_gate = _Gate(default_concurrency())

_CPU = Counter(
    "polis_argon2_cpu_seconds", "CPU seconds of argon2id computations (the thread's own)", ["operation"]
)
_DONE = Counter("polis_argon2_computations", "argon2id computations", ["operation"])


class _Meter:
    """One operation's two counters, their labels resolved once."""

    def __init__(self, operation: str) -> None:
        self.cpu = _CPU.labels(operation)
        self.done = _DONE.labels(operation)

    @contextmanager
    def measured(self) -> Iterator[None]:
        started = time.thread_time()
        try:
            yield
        finally:
            self.cpu.inc(time.thread_time() - started)
            self.done.inc()


_VERIFY, _HASH = _Meter("verify"), _Meter("hash")


def bound_concurrency(size: int) -> None:
    """Set how many argon2 computations this process runs at once (call before serving requests)."""
    _gate.resize(size)


def concurrency() -> int:
    return _gate.size


@functools.cache
def hasher(memory_kib: int = OWASP_MEMORY_KIB, time_cost: int = OWASP_TIME_COST) -> PasswordHasher:
    """The hasher for the given cost (tests may lower it; production keeps the OWASP parameters)."""
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=OWASP_PARALLELISM)


def hash_secret(secret: str, *, ph: PasswordHasher | None = None) -> str:
    """The argon2id hash of a secret, computed when a core is free."""
    with _gate.held(), _HASH.measured():
        return (ph or hasher()).hash(secret)


def verify_secret(stored_hash: str | None, secret: str, *, ph: PasswordHasher | None = None) -> bool:
    """True when `secret` matches; an absent or unreadable hash never matches (and costs nothing)."""
    if not stored_hash:
        return False
    try:
        with _gate.held(), _VERIFY.measured():
            return (ph or hasher()).verify(stored_hash, secret)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str, *, ph: PasswordHasher | None = None) -> bool:
    """True when the hash was made with other parameters than the current ones: re-hash it on success."""
    return (ph or hasher()).check_needs_rehash(stored_hash)


@functools.cache
def dummy_hash(memory_kib: int = OWASP_MEMORY_KIB, time_cost: int = OWASP_TIME_COST) -> str:
    """A fixed hash to verify against when nothing matched, so that the answer takes the same time whether
    or not the account exists (uniform answers, D-ACC-5/6). Computed once per process, lazily."""
    return hash_secret("polis-no-such-account", ph=hasher(memory_kib, time_cost))
