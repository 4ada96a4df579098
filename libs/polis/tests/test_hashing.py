"""polis.hashing: argon2id at the OWASP parameters, with the computations in flight bounded (issue 18)."""

from __future__ import annotations

import multiprocessing
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


# The computations run on the gate's own threads, not the caller's (issue 18): a few long-lived threads keep
# argon2's memory from one computation to the next instead of faulting 19 MiB in on every request.


def _computing_threads(monkeypatch: pytest.MonkeyPatch) -> list[threading.Thread]:
    seen: list[threading.Thread] = []
    real = PasswordHasher.verify

    def recording_verify(self, stored, secret):
        seen.append(threading.current_thread())
        return real(self, stored, secret)

    monkeypatch.setattr(PasswordHasher, "verify", recording_verify)
    return seen


def test_verifications_from_many_request_threads_run_on_the_gates_few_threads(bound, monkeypatch):
    bound(2)
    seen = _computing_threads(monkeypatch)
    stored = hashing.hash_secret("girasole-fiume", ph=CHEAP)
    answers: list[bool] = []
    callers = [
        threading.Thread(
            target=lambda: answers.append(hashing.verify_secret(stored, "girasole-fiume", ph=CHEAP))
        )
        for _ in range(8)
    ]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(timeout=10)

    assert answers == [True] * 8
    assert len(seen) == 8
    assert not set(seen) & set(callers)
    assert len(set(seen)) <= 2
    assert all(thread.name.startswith("argon2") for thread in seen)


def test_a_wrong_secret_and_a_broken_hash_answer_false_from_the_gates_thread(bound, monkeypatch):
    bound(1)
    seen = _computing_threads(monkeypatch)
    stored = hashing.hash_secret("girasole-fiume", ph=CHEAP)

    assert not hashing.verify_secret(stored, "sbagliata", ph=CHEAP)
    assert not hashing.verify_secret("$argon2id$broken", "girasole-fiume", ph=CHEAP)
    assert seen and seen[0].name.startswith("argon2")


def test_a_resize_computes_on_threads_of_the_new_size(bound, monkeypatch):
    seen = _computing_threads(monkeypatch)
    stored = hashing.hash_secret("x", ph=CHEAP)
    bound(1)
    hashing.verify_secret(stored, "x", ph=CHEAP)
    bound(3)
    hashing.verify_secret(stored, "x", ph=CHEAP)

    assert len(seen) == 2 and seen[0] is not seen[1]  # the old pool's thread is not the new one's


def _verify_in_child(stored: str, answer: multiprocessing.Queue) -> None:
    answer.put(hashing.verify_secret(stored, "girasole-fiume", ph=CHEAP))


def test_a_forked_worker_computes_on_threads_of_its_own():
    # gunicorn forks its workers after the app (and maybe a first hash) was loaded: the parent's pool has
    # no threads in the child, which must not wait for them forever.
    stored = hashing.hash_secret("girasole-fiume", ph=CHEAP)  # the parent's pool now exists
    context = multiprocessing.get_context("fork")
    answer = context.Queue()
    child = context.Process(target=_verify_in_child, args=(stored, answer))
    child.start()
    try:
        child.join(timeout=30)
    finally:
        if child.is_alive():  # it waited for threads it does not have
            child.kill()
            child.join()

    assert child.exitcode == 0
    assert answer.get(timeout=5) is True
