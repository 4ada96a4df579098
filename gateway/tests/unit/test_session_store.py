"""The SQLite session store that make run's gateway workers share (refresh outcomes, ended SSO sessions)."""

from __future__ import annotations

from pathlib import Path

import pytest
from gateway.auth.tokens import SqliteOutcomes, outcome_store


@pytest.fixture
def path(tmp_path: Path) -> str:
    return str(tmp_path / "gateway" / "sessions.sqlite3")


def test_two_processes_views_of_one_file_claim_a_key_once(path: str) -> None:
    first, second = outcome_store(f"sqlite://{path}", timeout=1.0), SqliteOutcomes(path)

    assert first.claim("refresh:abc", ttl=5) is True
    assert second.claim("refresh:abc", ttl=5) is False
    first.put("refresh:abc", b"outcome", ttl=5)
    assert second.wait("refresh:abc", timeout=1.0) == b"outcome"


def test_a_released_claim_can_be_taken_again(path: str) -> None:
    store = outcome_store(f"sqlite://{path}", timeout=1.0)
    assert store.claim("k", ttl=5)

    store.release("k")

    assert store.claim("k", ttl=5)


def test_entries_end_at_their_deadline(path: str) -> None:
    now = [1000.0]
    store = SqliteOutcomes(path, clock=lambda: now[0])
    store.put("ended-sso-session:s-1", b"1", ttl=10)
    assert store.wait("ended-sso-session:s-1", 0) == b"1"

    now[0] += 11

    assert store.wait("ended-sso-session:s-1", 0) is None
    assert store.claim("ended-sso-session:s-1", ttl=5)  # an expired entry does not block a claim


def test_a_pending_claim_reads_as_no_outcome_once_the_wait_is_over(path: str) -> None:
    store = SqliteOutcomes(path)
    store.claim("k", ttl=5)

    assert store.wait("k", timeout=0.05) is None
