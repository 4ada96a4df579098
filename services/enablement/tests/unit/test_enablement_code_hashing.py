"""Personal codes are verified and hashed through polis.hashing's bound (D-ENA-9, P7): the RPC responder
serves from more threads than cores, and no more argon2 computations than the bound run at once."""

from __future__ import annotations

import threading

from enablement.personal_codes import hashing
from polis import hashing as polis_hashing

CHEAP = hashing.hasher(memory_kib=64, time_cost=1)


def test_a_code_check_waits_for_a_free_core_at_polis_hashing_s_gate() -> None:
    stored = hashing.make(CHEAP, "Girasole42")
    before = polis_hashing.concurrency()
    polis_hashing.bound_concurrency(1)
    try:
        results: list[bool] = []
        with polis_hashing._gate.held():  # the one core is busy with another computation
            checker = threading.Thread(
                target=lambda: results.append(hashing.verify(CHEAP, stored, "Girasole42"))
            )
            checker.start()
            checker.join(timeout=0.5)
            waited = checker.is_alive() and not results
        checker.join(timeout=10)
    finally:
        polis_hashing.bound_concurrency(before)

    assert waited
    assert results == [True]
    assert not hashing.verify(CHEAP, stored, "Girasole43")
    assert not hashing.verify(CHEAP, None, "Girasole42")
    assert not hashing.verify(CHEAP, "not-a-hash", "Girasole42")
