"""Revocation rounds (D-REV-1 ... D-REV-5): the names the views, the CLI, the login and the worker use.

The round's parts live by concern: common.py (names, errors, Italian times, the affected set's predicate),
rounds.py (what ops do: create, preview, announce, cancel, the views and queries; the keep at login),
announce.py (the worker's notice batches), execute.py (its revocation batches) and work.py (one pass of
the worker, dispatching to them).
"""

from __future__ import annotations

from iam.revocation.common import (
    AFFECTED_STATES,
    EVENT_ANNOUNCED,
    EVENT_REVOKED,
    IDLE,
    LIVE_ROUND_STATES,
    PRODUCER,
    REVOKED_ACTION,
    ROME,
    WORKER_ACTOR,
    DeadlinePassed,
    RoundNotFound,
    RoundOverlaps,
    RoundStateConflict,
    Step,
    affected,
    as_utc,
    cutoff_instant,
    parse_local_deadline,
    rome_instant,
)
from iam.revocation.rounds import (
    NoticeView,
    Preview,
    RoundView,
    announce_round,
    cancel_round,
    create_round,
    get_round,
    keep_on_login,
    list_rounds,
    outbox_backlog,
    preview_round,
    revoked_audit,
)
from iam.revocation.work import work_once

__all__ = [
    "AFFECTED_STATES",
    "EVENT_ANNOUNCED",
    "EVENT_REVOKED",
    "IDLE",
    "LIVE_ROUND_STATES",
    "PRODUCER",
    "REVOKED_ACTION",
    "ROME",
    "WORKER_ACTOR",
    "DeadlinePassed",
    "NoticeView",
    "Preview",
    "RoundNotFound",
    "RoundOverlaps",
    "RoundStateConflict",
    "RoundView",
    "Step",
    "affected",
    "announce_round",
    "as_utc",
    "cancel_round",
    "create_round",
    "cutoff_instant",
    "get_round",
    "keep_on_login",
    "list_rounds",
    "outbox_backlog",
    "parse_local_deadline",
    "preview_round",
    "revoked_audit",
    "rome_instant",
    "work_once",
]
