"""argon2id for every secret a person types (passwords, answers, personal codes), bounded to the cores.

The OWASP parameters (m=19 MiB, t=2, p=1). Each verification is one core's work for about 30 ms over
19 MiB of memory: a web process with eight threads ran up to eight at once per process on two cores, and
they evicted each other from the caches (16 threads: 35.6 ms of CPU per verify against 30.3 ms for two,
issue 18). So the verifications and hashes in flight in one process are bounded: the others wait in line,
which costs them nothing but time they would have lost anyway sharing the cores.

The bound is POLIS_ARGON2_CONCURRENCY when set, else the cores this process may use divided among the web
process's gunicorn workers (`polis.service` sets it after the fork), at least one.

The computations run on the gate's own threads, one per place at the gate, not on the request's: a verify on
whichever of gunicorn's eight threads took the request got its 19 MiB from that thread's malloc arena, which
gave it back to the kernel afterwards, so each verify faulted its memory in again (about 600 page faults and
2 ms of system CPU per verify inside IAM, none in a loop on one thread; issue 18). A thread of the gate keeps
its arena's memory from one computation to the next: at most `size` times 19 MiB stay resident per process.

What the computations cost is counted on /metrics: `polis_argon2_cpu_seconds_total` (the computing thread's
own CPU time, so the wait at the gate is not in it) and `polis_argon2_computations_total`, by operation
(verify, hash): the CPU of one verify as the service sees it under load, beside the bare figure (issue 18).
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

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


T = TypeVar("T")


class _Gate:
    """A semaphore whose size can be set once the process knows its place (after gunicorn's fork), and the
    threads its holders compute on."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._semaphore = threading.BoundedSemaphore(size)
        self._threads: tuple[int, int, ThreadPoolExecutor] | None = None  # (pid, size, the pool)
        self._lock = threading.Lock()

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

    def compute(self, work: Callable[[], T]) -> T:
        """`work`'s answer (or its exception), computed on one of the gate's threads once a place is free."""
        with self.held():
            return self._pool().submit(work).result()

    def _pool(self) -> ThreadPoolExecutor:
        # Made in the process that uses it (a pool made before gunicorn's fork has no threads in the worker),
        # as large as the gate, so a holder never waits for a thread; a resize makes a new one.
        wanted = (os.getpid(), self.size)
        threads = self._threads
        if threads is None or threads[:2] != wanted:
            with self._lock:
                threads = self._threads
                if threads is None or threads[:2] != wanted:
                    if threads is not None and threads[0] == wanted[0]:
                        threads[2].shutdown(wait=False)  # what it was given still finishes
                    threads = (*wanted, ThreadPoolExecutor(wanted[1], thread_name_prefix="argon2"))
                    self._threads = threads
        return threads[2]


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
    chosen = ph or hasher()

    def compute() -> str:
        with _HASH.measured():
            return chosen.hash(secret)

    return _gate.compute(compute)


def verify_secret(stored_hash: str | None, secret: str, *, ph: PasswordHasher | None = None) -> bool:
    """True when `secret` matches; an absent or unreadable hash never matches (and costs nothing)."""
    if not stored_hash:
        return False
    chosen = ph or hasher()

    def compute() -> bool:
        with _VERIFY.measured():
            return chosen.verify(stored_hash, secret)

    try:
        return _gate.compute(compute)
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
