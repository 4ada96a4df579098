"""polis.hashing: argon2id at the OWASP parameters, with the computations in flight bounded (issue 18)."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest
from argon2 import PasswordHasher
from polis import hashing
from polis.service import gunicorn_settings

CHEAP = hashing.hasher(memory_kib=64, time_cost=1)


@pytest.fixture
def bound():
    before = hashing.concurrency()
    yield hashing.bound_concurrency
    hashing.bound_concurrency(before)


def test_a_hash_verifies_only_its_secret_and_an_absent_or_broken_hash_never_matches():
    stored = hashing.hash_secret("girasole-fiume", ph=CHEAP)

    assert hashing.verify_secret(stored, "girasole-fiume", ph=CHEAP)
    assert not hashing.verify_secret(stored, "Girasole-fiume", ph=CHEAP)
    assert not hashing.verify_secret(None, "girasole-fiume", ph=CHEAP)
    assert not hashing.verify_secret("not-a-hash", "girasole-fiume", ph=CHEAP)
    assert hashing.needs_rehash(stored)  # made with cheaper parameters than OWASP's


def test_no_more_verifications_run_at_once_than_the_bound(bound, monkeypatch):
    bound(2)
    running, peak, lock = 0, 0, threading.Lock()
    release = threading.Event()
    real = PasswordHasher.verify

    def slow_verify(self, stored, secret):
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        release.wait(timeout=10)
        with lock:
            running -= 1
        return real(self, stored, secret)

    monkeypatch.setattr(PasswordHasher, "verify", slow_verify)
    stored = hashing.hash_secret("x", ph=CHEAP)
    threads = [
        threading.Thread(target=hashing.verify_secret, args=(stored, "x"), kwargs={"ph": CHEAP})
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # until the bound is reached: two inside, six waiting at the gate
        with lock:
            if running == 2:
                break
        time.sleep(0.01)
    with lock:
        inside = running
    third_may_enter = hashing._gate._semaphore.acquire(blocking=False)
    release.set()
    for thread in threads:
        thread.join(timeout=10)

    assert inside == 2
    assert not third_may_enter
    assert peak == 2


def test_the_bound_is_the_cores_shared_among_the_gunicorn_workers(monkeypatch, bound):
    monkeypatch.delenv("POLIS_ARGON2_CONCURRENCY", raising=False)
    monkeypatch.setattr(hashing, "available_cores", lambda: 8)
    post_fork = gunicorn_settings("iam", default_port=8101)["post_fork"]

    post_fork(SimpleNamespace(cfg=SimpleNamespace(workers=2)), None)
    assert hashing.concurrency() == 4
    post_fork(SimpleNamespace(cfg=SimpleNamespace(workers=16)), None)
    assert hashing.concurrency() == 1  # never none

    monkeypatch.setenv("POLIS_ARGON2_CONCURRENCY", "3")
    post_fork(SimpleNamespace(cfg=SimpleNamespace(workers=2)), None)
    assert hashing.concurrency() == 3
    monkeypatch.setenv("POLIS_ARGON2_CONCURRENCY", "0")
    with pytest.raises(ValueError, match="at least 1"):
        hashing.default_concurrency()


def test_metrics_count_each_computation_and_its_cpu_time_wrong_secrets_too():
    from prometheus_client import REGISTRY

    def sample(name: str, operation: str) -> float:
        return REGISTRY.get_sample_value(name, {"operation": operation}) or 0.0

    verifies = sample("polis_argon2_computations_total", "verify")
    hashes = sample("polis_argon2_computations_total", "hash")
    cpu = sample("polis_argon2_cpu_seconds_total", "verify")
    stored = hashing.hash_secret("girasole-fiume", ph=CHEAP)
    hashing.verify_secret(stored, "girasole-fiume", ph=CHEAP)
    hashing.verify_secret(stored, "sbagliata", ph=CHEAP)
    hashing.verify_secret(None, "girasole-fiume", ph=CHEAP)  # no hash: no computation

    assert sample("polis_argon2_computations_total", "verify") == verifies + 2
    assert sample("polis_argon2_computations_total", "hash") == hashes + 1
    assert sample("polis_argon2_cpu_seconds_total", "verify") > cpu
