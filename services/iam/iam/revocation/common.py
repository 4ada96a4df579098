"""What every part of a revocation round shares (D-REV-1 ... D-REV-5): names, errors, Italian times, the
affected set's predicate, the worker's Step and the round's audit entries.

The affected set is a predicate over the accounts (D-REV-5), not a copy of them: ordinary, usable, created
before the cut-off, last access (or activation) before it. Accounts only leave the set (a login moves the
last access past the cut-off), so the worker's batches walk the accounts in id order from a checkpoint
(announce.py, execute.py; D-REV-4).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from polis.errors import Conflict, NotFound, ValidationFailed
from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session

from iam.accounts.models import Account, AccountKind, AccountState
from iam.audit import service as audit
from iam.audit.service import Origin
from iam.revocation.models import NoticeState, RevocationKeep, RevocationRound, RoundState

ROME = ZoneInfo("Europe/Rome")
PRODUCER = "iam"
EVENT_ANNOUNCED = "iam.revocation_announced"
EVENT_REVOKED = "iam.account_revoked"
WORKER_ACTOR = "iam:revocation-worker"
REVOKED_ACTION = "account.revoked"
# Usable accounts only: one awaiting confirmation was never activated, a disabled one cannot log in anyway.
AFFECTED_STATES = (AccountState.ACTIVE.value, AccountState.MUST_CHANGE_PASSWORD.value)
LIVE_ROUND_STATES = (RoundState.ANNOUNCED.value, RoundState.EXECUTING.value)
MAX_REMINDER_DAYS = 365


# --- errors (the JSON error shape through polis.errors) ---------------------------------------------------


class RoundNotFound(NotFound):
    code = "round_not_found"
    message = "There is no revocation round with this id."


class RoundOverlaps(Conflict):
    code = "round_overlaps"
    message = "Another revocation round is announced or executing: finish or cancel it first."


class RoundStateConflict(Conflict):
    code = "round_state"
    message = "The round is not in a state that allows this."


class DeadlinePassed(Conflict):
    code = "deadline_passed"
    message = "The round's deadline has passed: it can no longer be cancelled or announced."


def invalid(field_name: str, code: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, fields={field_name: [code]})


# --- times ------------------------------------------------------------------------------------------------


def rome_instant(local: datetime) -> datetime:
    """The UTC instant of a wall-clock time in Italy; a time the clocks skip or repeat is refused."""
    if local.tzinfo is not None:
        return local.astimezone(UTC)
    first, second = local.replace(tzinfo=ROME, fold=0), local.replace(tzinfo=ROME, fold=1)
    if first.utcoffset() != second.utcoffset():
        round_trip = first.astimezone(UTC).astimezone(ROME).replace(tzinfo=None)
        if round_trip != local:
            raise invalid("deadline", "nonexistent_local_time", "That time does not exist in Italy (DST).")
        raise invalid("deadline", "ambiguous_local_time", "That time happens twice in Italy (DST).")
    return first.astimezone(UTC)


def parse_local_deadline(text: str) -> datetime:
    """`YYYY-MM-DDTHH:MM[:SS]` in Italian time; `T24:00` ends that day (D-REV-1: 12/07/2017 24:00)."""
    value = text.strip().replace(" ", "T")
    day, _, clock_part = value.partition("T")
    try:
        if clock_part in ("24:00", "24:00:00"):
            local = datetime.combine(date.fromisoformat(day) + timedelta(days=1), time())
        else:
            local = datetime.fromisoformat(value)
    except ValueError:
        raise invalid("deadline", "invalid_datetime", "The deadline must read YYYY-MM-DDTHH:MM.") from None
    if local.tzinfo is not None:
        raise invalid("deadline", "local_time_expected", "Give the deadline in Italian time, no offset.")
    return rome_instant(local)


def cutoff_instant(cutoff: date) -> datetime:
    """The first instant of the cut-off day in Italy: unused since that day means no access from then on."""
    return rome_instant(datetime.combine(cutoff, time()))


def as_utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --- the affected set (D-REV-5) ---------------------------------------------------------------------------


def affected(cutoff_at: datetime, accounts: Any = Account) -> ColumnElement[bool]:
    """Ordinary usable accounts created before the cut-off, last access (else activation) before it
    (`accounts`: the Account entity or an alias of it)."""
    return and_(
        accounts.kind == AccountKind.ORDINARY.value,
        accounts.state.in_(AFFECTED_STATES),
        accounts.created_at < cutoff_at,
        func.coalesce(accounts.last_access_at, accounts.activated_at) < cutoff_at,
    )


def was_affected(account: Account, cutoff_at: datetime) -> bool:
    last = account.last_access_at or account.activated_at
    return (
        account.kind == AccountKind.ORDINARY.value
        and account.state in AFFECTED_STATES
        and as_utc(account.created_at) < cutoff_at
        and last is not None
        and as_utc(last) < cutoff_at
    )


OPEN_NOTICE = (NoticeState.PENDING.value, NoticeState.SENDING.value)


@dataclass(frozen=True)
class Step:
    """What one batch did: kind is idle, notice, started, revoked or done."""

    kind: str
    count: int = 0
    round_id: uuid.UUID | None = None
    notice: str | None = None


IDLE = Step("idle")


def kept(session: Session, round_: RevocationRound) -> int:
    """Accounts kept by a login: frozen on the round when it ends, counted from revocation_keeps before."""
    if round_.kept_count is not None:
        return round_.kept_count
    return int(session.scalar(select(func.count()).where(RevocationKeep.round_id == round_.id)) or 0)


def audit_round(
    session: Session, *, action: str, round_: RevocationRound, actor: str, origin: Origin, **details: Any
) -> None:
    """One audit entry of the round's own acts (created, announced, execution started, done ...)."""
    audit.record(
        session, action=action, origin=origin, actor=actor, details={"round_id": str(round_.id), **details}
    )
