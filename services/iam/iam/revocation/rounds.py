"""Revocation rounds as ops drive them (D-REV-1, D-REV-2, D-REV-4): create, preview, announce, cancel, the
views with their live counts, the keep at login, and the queries of the ops API (audit, outbox backlog).

The worker's batches are in announce.py and execute.py, dispatched by work.py.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from polis.db import Database
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from iam.accounts.models import Account, AccountKind
from iam.audit.models import AuditEntry
from iam.audit.service import Origin
from iam.models import outbox
from iam.revocation import clock
from iam.revocation.common import (
    LIVE_ROUND_STATES,
    MAX_REMINDER_DAYS,
    OPEN_NOTICE,
    REVOKED_ACTION,
    ROME,
    DeadlinePassed,
    RoundNotFound,
    RoundOverlaps,
    RoundStateConflict,
    affected,
    as_utc,
    audit_round,
    cutoff_instant,
    invalid,
    kept,
    was_affected,
)
from iam.revocation.models import (
    ANNOUNCEMENT,
    NoticeState,
    RevocationKeep,
    RevocationNotice,
    RevocationRound,
    RoundState,
    reminder_name,
)

# --- views of a round -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoticeView:
    name: str
    due_at: datetime
    state: str
    sent: int
    finished_at: datetime | None


@dataclass(frozen=True)
class RoundView:
    """A round with its live counts and progress, for the API, the CLI and the ops page."""

    id: uuid.UUID
    state: str
    cutoff: date
    deadline: datetime
    reminder_days: list[int]
    affected_at_preview: int | None
    previewed_at: datetime | None
    affected_at_announce: int | None
    announced: int
    kept: int
    revoked: int
    created_by: str
    created_at: datetime
    announced_by: str | None
    announced_at: datetime | None
    cancelled_by: str | None
    cancelled_at: datetime | None
    execution_started_at: datetime | None
    done_at: datetime | None
    notices: list[NoticeView] = field(default_factory=list)

    @property
    def deadline_local(self) -> str:
        return self.deadline.astimezone(ROME).strftime("%Y-%m-%dT%H:%M:%S")

    @property
    def progress(self) -> int:
        """Percent: of notices sent while announcing, of the affected accounts settled while executing."""
        total = self.affected_at_announce or 0
        if total == 0:
            return 100 if self.state == RoundState.DONE.value else 0
        if self.state == RoundState.ANNOUNCED.value:
            return min(100, self.announced * 100 // total)
        if self.state in (RoundState.EXECUTING.value, RoundState.DONE.value):
            return (
                100
                if self.state == RoundState.DONE.value
                else min(99, (self.revoked + self.kept) * 100 // total)
            )
        return 0


def _view(session: Session, round_: RevocationRound) -> RoundView:
    notices = session.scalars(
        select(RevocationNotice)
        .where(RevocationNotice.round_id == round_.id)
        .order_by(RevocationNotice.due_at)
    )
    return RoundView(
        id=round_.id,
        state=round_.state,
        cutoff=round_.cutoff,
        deadline=as_utc(round_.deadline),
        reminder_days=list(round_.reminder_days),
        affected_at_preview=round_.affected_at_preview,
        previewed_at=round_.previewed_at and as_utc(round_.previewed_at),
        affected_at_announce=round_.affected_at_announce,
        announced=round_.announced_count,
        kept=kept(session, round_),
        revoked=round_.revoked_count,
        created_by=round_.created_by,
        created_at=as_utc(round_.created_at),
        announced_by=round_.announced_by,
        announced_at=round_.announced_at and as_utc(round_.announced_at),
        cancelled_by=round_.cancelled_by,
        cancelled_at=round_.cancelled_at and as_utc(round_.cancelled_at),
        execution_started_at=round_.execution_started_at and as_utc(round_.execution_started_at),
        done_at=round_.done_at and as_utc(round_.done_at),
        notices=[
            NoticeView(n.name, as_utc(n.due_at), n.state, n.sent, n.finished_at and as_utc(n.finished_at))
            for n in notices
        ],
    )


def _locked_round(session: Session, round_id: uuid.UUID) -> RevocationRound:
    round_ = session.get(RevocationRound, round_id, with_for_update=True)
    if round_ is None:
        raise RoundNotFound()
    return round_


def _live_round_exists(session: Session, *, other_than: uuid.UUID | None = None) -> bool:
    statement = select(RevocationRound.id).where(RevocationRound.state.in_(LIVE_ROUND_STATES))
    if other_than is not None:
        statement = statement.where(RevocationRound.id != other_than)
    return session.scalar(statement.limit(1)) is not None


# --- ops use cases ----------------------------------------------------------------------------------------


def list_rounds(*, db: Database) -> list[RoundView]:
    """Every round, newest first, with its counts."""
    with db.transaction() as session:
        rounds = session.scalars(select(RevocationRound).order_by(RevocationRound.created_at.desc()))
        return [_view(session, round_) for round_ in rounds]


def get_round(*, db: Database, round_id: uuid.UUID) -> RoundView:
    """One round with its counts and the progress of each notice."""
    with db.transaction() as session:
        round_ = session.get(RevocationRound, round_id)
        if round_ is None:
            raise RoundNotFound()
        return _view(session, round_)


def _check_reminders(days: list[int]) -> list[int]:
    if any(day < 1 or day > MAX_REMINDER_DAYS for day in days):
        raise invalid(
            "reminder_days", "out_of_range", f"Each reminder is 1 to {MAX_REMINDER_DAYS} days before."
        )
    return sorted(set(days), reverse=True)


def create_round(
    *,
    db: Database,
    cutoff: date,
    deadline: datetime,
    reminder_days: list[int],
    actor: str,
    origin: Origin,
) -> RoundView:
    """A draft round; refused (nothing written) for a past deadline, a cut-off not before the deadline or
    in the future, or while another round is announced or executing."""
    now = clock.now()
    cutoff_at = cutoff_instant(cutoff)
    if deadline <= now:
        raise invalid("deadline", "deadline_in_past", "The deadline must be in the future.")
    if cutoff_at >= deadline:
        raise invalid("cutoff", "cutoff_after_deadline", "The cut-off must come before the deadline.")
    if cutoff_at > now:
        raise invalid("cutoff", "cutoff_in_future", "The cut-off cannot be in the future.")
    days = _check_reminders(reminder_days)
    with db.transaction() as session:
        if _live_round_exists(session):
            raise RoundOverlaps()
        round_ = RevocationRound(
            id=uuid.uuid4(),
            state=RoundState.DRAFT.value,
            cutoff=cutoff,
            cutoff_at=cutoff_at,
            deadline=deadline,
            reminder_days=days,
            announced_count=0,
            revoked_count=0,
            created_by=actor,
            created_at=now,
        )
        session.add(round_)
        session.flush()
        audit_round(
            session,
            action="revocation.round_created",
            round_=round_,
            actor=actor,
            origin=origin,
            cutoff=cutoff.isoformat(),
            deadline=deadline.isoformat(),
            reminder_days=days,
        )
        return _view(session, round_)


@dataclass(frozen=True)
class Preview:
    round: RoundView
    affected: int
    sample: list[dict[str, Any]]


def preview_round(
    *, db: Database, round_id: uuid.UUID, sample_size: int, actor: str, origin: Origin
) -> Preview:
    """How many accounts the round would affect now, and a few of them; recorded on the round."""
    now = clock.now()
    with db.transaction() as session:
        round_ = _locked_round(session, round_id)
        if round_.state != RoundState.DRAFT.value:
            raise RoundStateConflict(
                "Only a draft round is previewed: its affected set is fixed once announced."
            )
        cutoff_at = as_utc(round_.cutoff_at)
        count = int(session.scalar(select(func.count()).select_from(Account).where(affected(cutoff_at))) or 0)
        rows = session.execute(
            select(
                Account.id, Account.username, Account.language, Account.last_access_at, Account.activated_at
            )
            .where(affected(cutoff_at))
            .limit(max(0, sample_size))
        ).all()
        round_.affected_at_preview = count
        round_.previewed_at = now
        audit_round(
            session,
            action="revocation.round_previewed",
            round_=round_,
            actor=actor,
            origin=origin,
            affected=count,
        )
        sample = [
            {
                "account_id": row.id,
                "username": row.username,
                "language": row.language,
                "last_access_at": row.last_access_at and as_utc(row.last_access_at),
                "activated_at": row.activated_at and as_utc(row.activated_at),
            }
            for row in rows
        ]
        return Preview(round=_view(session, round_), affected=count, sample=sample)


def announce_round(*, db: Database, round_id: uuid.UUID, actor: str, origin: Origin) -> RoundView:
    """Draft -> announced: the worker then sends the announcement and the reminders (D-REV-2)."""
    now = clock.now()
    with db.transaction() as session:
        round_ = _locked_round(session, round_id)
        if round_.state != RoundState.DRAFT.value:
            raise RoundStateConflict("Only a draft round can be announced.")
        deadline = as_utc(round_.deadline)
        if deadline <= now:
            raise DeadlinePassed()
        if _live_round_exists(session, other_than=round_.id):
            raise RoundOverlaps()
        cutoff_at = as_utc(round_.cutoff_at)
        round_.affected_at_announce = int(
            session.scalar(select(func.count()).select_from(Account).where(affected(cutoff_at))) or 0
        )
        round_.state = RoundState.ANNOUNCED.value
        round_.announced_by = actor
        round_.announced_at = now
        session.add(
            RevocationNotice(
                round_id=round_.id, name=ANNOUNCEMENT, due_at=now, state=NoticeState.PENDING.value, sent=0
            )
        )
        for days in round_.reminder_days:
            due = deadline - timedelta(days=days)
            # A reminder due already, at the announcement, would only repeat it.
            state = NoticeState.PENDING if due > now else NoticeState.SKIPPED
            session.add(
                RevocationNotice(
                    round_id=round_.id, name=reminder_name(days), due_at=due, state=state.value, sent=0
                )
            )
        session.flush()
        audit_round(
            session,
            action="revocation.round_announced",
            round_=round_,
            actor=actor,
            origin=origin,
            affected=round_.affected_at_announce,
        )
        return _view(session, round_)


def cancel_round(*, db: Database, round_id: uuid.UUID, actor: str, origin: Origin) -> RoundView:
    """Draft or announced -> cancelled, only before the deadline: it revokes nobody, sends nothing more."""
    now = clock.now()
    with db.transaction() as session:
        round_ = _locked_round(session, round_id)
        if round_.state not in (RoundState.DRAFT.value, RoundState.ANNOUNCED.value):
            raise RoundStateConflict("Only a draft or announced round can be cancelled.")
        if as_utc(round_.deadline) <= now:
            raise DeadlinePassed()
        round_.state = RoundState.CANCELLED.value
        round_.cancelled_by = actor
        round_.cancelled_at = now
        round_.kept_count = kept(session, round_)
        session.execute(
            update(RevocationNotice)
            .where(RevocationNotice.round_id == round_.id, RevocationNotice.state.in_(OPEN_NOTICE))
            .values(state=NoticeState.SKIPPED.value)
        )
        audit_round(session, action="revocation.round_cancelled", round_=round_, actor=actor, origin=origin)
        return _view(session, round_)


# --- keep at login (D-REV-2) ------------------------------------------------------------------------------


def keep_on_login(session: Session, *, account: Account) -> None:
    """Called by the login in its transaction, before it records the access: an account affected by an
    announced round whose deadline has not come leaves the round, counted as kept."""
    if account.kind != AccountKind.ORDINARY.value:
        return
    now = clock.now()
    rounds = session.execute(
        select(RevocationRound.id, RevocationRound.cutoff_at).where(
            RevocationRound.state == RoundState.ANNOUNCED.value, RevocationRound.deadline > now
        )
    ).all()
    for round_id, cutoff_at in rounds:
        if was_affected(account, as_utc(cutoff_at)):
            # The login holds the account's row lock: a second login of it sees the new last access.
            session.add(RevocationKeep(round_id=round_id, account_id=account.id, kept_at=now))


# --- queries of the ops API -------------------------------------------------------------------------------


def outbox_backlog(*, db: Database) -> int:
    """Events waiting unsent in IAM's outbox."""
    with db.transaction() as session:
        return int(
            session.scalar(select(func.count()).select_from(outbox).where(outbox.c.sent_at.is_(None))) or 0
        )


def revoked_audit(*, db: Database, round_id: uuid.UUID, limit: int, offset: int) -> list[AuditEntry]:
    """The round's own audit entries (its acts), then its per-account revocations, oldest first."""
    with db.transaction() as session:
        rows = session.scalars(
            select(AuditEntry)
            .where(
                or_(AuditEntry.action.like("revocation.%"), AuditEntry.action == REVOKED_ACTION),
                AuditEntry.details["round_id"].as_string() == str(round_id),
            )
            .order_by(AuditEntry.occurred_at, AuditEntry.id)
            .offset(offset)
            .limit(limit)
        )
        entries = list(rows)
        session.expunge_all()
        return entries
