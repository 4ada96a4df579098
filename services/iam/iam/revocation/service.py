"""Revocation rounds (D-REV-1 ... D-REV-5): create, preview, announce, cancel; keep at login; the worker's
batches of notices and of revocations.

The affected set is a predicate over the accounts (D-REV-5), not a copy of them: ordinary, usable, created
before the cut-off, last access (or activation) before it. Accounts only leave the set (a login moves the
last access past the cut-off), so every batch walks the accounts in id order from a checkpoint, and writes
its outbox rows, its audit entries and the checkpoint's move in one transaction: a crash anywhere resumes
after the last committed batch, never skipping an account and never notifying or revoking one twice
(D-REV-4). Every batch locks the round's row first, so two workers take turns instead of racing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from polis.db import Database
from polis.errors import Conflict, NotFound, ValidationFailed
from polis.events import Event
from polis.events import outbox as events_outbox
from sqlalchemy import ColumnElement, and_, false, func, or_, select, union, update
from sqlalchemy.orm import Session

from iam.accounts.models import Account, AccountKind, AccountState
from iam.audit import service as audit
from iam.audit.models import AuditEntry
from iam.audit.service import Origin
from iam.models import outbox
from iam.oidc.models import AccessToken, RefreshToken
from iam.revocation import clock
from iam.revocation.models import (
    ANNOUNCEMENT,
    NoticeState,
    RevocationKeep,
    RevocationNotice,
    RevocationRound,
    RoundState,
    reminder_name,
)
from iam.signin.models import SsoSession
from iam.signin.sessions import end_all_sessions

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


def _invalid(field_name: str, code: str, message: str) -> ValidationFailed:
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
            raise _invalid("deadline", "nonexistent_local_time", "That time does not exist in Italy (DST).")
        raise _invalid("deadline", "ambiguous_local_time", "That time happens twice in Italy (DST).")
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
        raise _invalid("deadline", "invalid_datetime", "The deadline must read YYYY-MM-DDTHH:MM.") from None
    if local.tzinfo is not None:
        raise _invalid("deadline", "local_time_expected", "Give the deadline in Italian time, no offset.")
    return rome_instant(local)


def cutoff_instant(cutoff: date) -> datetime:
    """The first instant of the cut-off day in Italy: unused since that day means no access from then on."""
    return rome_instant(datetime.combine(cutoff, time()))


def as_utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --- the affected set (D-REV-5) ---------------------------------------------------------------------------


def affected(cutoff_at: datetime) -> ColumnElement[bool]:
    """Ordinary usable accounts created before the cut-off, last access (else activation) before it."""
    return and_(
        Account.kind == AccountKind.ORDINARY.value,
        Account.state.in_(AFFECTED_STATES),
        Account.created_at < cutoff_at,
        func.coalesce(Account.last_access_at, Account.activated_at) < cutoff_at,
    )


def _was_affected(account: Account, cutoff_at: datetime) -> bool:
    last = account.last_access_at or account.activated_at
    return (
        account.kind == AccountKind.ORDINARY.value
        and account.state in AFFECTED_STATES
        and as_utc(account.created_at) < cutoff_at
        and last is not None
        and as_utc(last) < cutoff_at
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


def _kept(session: Session, round_: RevocationRound) -> int:
    if round_.kept_count is not None:
        return round_.kept_count
    return int(session.scalar(select(func.count()).where(RevocationKeep.round_id == round_.id)) or 0)


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
        kept=_kept(session, round_),
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


def _audit_round(
    session: Session, *, action: str, round_: RevocationRound, actor: str, origin: Origin, **details: Any
) -> None:
    audit.record(
        session, action=action, origin=origin, actor=actor, details={"round_id": str(round_.id), **details}
    )


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
        raise _invalid(
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
        raise _invalid("deadline", "deadline_in_past", "The deadline must be in the future.")
    if cutoff_at >= deadline:
        raise _invalid("cutoff", "cutoff_after_deadline", "The cut-off must come before the deadline.")
    if cutoff_at > now:
        raise _invalid("cutoff", "cutoff_in_future", "The cut-off cannot be in the future.")
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
        _audit_round(
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
        _audit_round(
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
        _audit_round(
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
        round_.kept_count = _kept(session, round_)
        session.execute(
            update(RevocationNotice)
            .where(RevocationNotice.round_id == round_.id, RevocationNotice.state.in_(_OPEN_NOTICE))
            .values(state=NoticeState.SKIPPED.value)
        )
        _audit_round(session, action="revocation.round_cancelled", round_=round_, actor=actor, origin=origin)
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
        if _was_affected(account, as_utc(cutoff_at)):
            # The login holds the account's row lock: a second login of it sees the new last access.
            session.add(RevocationKeep(round_id=round_id, account_id=account.id, kept_at=now))


# --- the worker's batches ---------------------------------------------------------------------------------

_OPEN_NOTICE = (NoticeState.PENDING.value, NoticeState.SENDING.value)


@dataclass(frozen=True)
class Step:
    """What one batch did: kind is idle, notice, started, revoked or done."""

    kind: str
    count: int = 0
    round_id: uuid.UUID | None = None
    notice: str | None = None


IDLE = Step("idle")


def work_once(*, db: Database, batch_size: int, origin: Origin | None = None) -> Step:
    """One batch of the live round that is due: its next notice batch, the start of its execution at the
    deadline, or its next revocation batch. One transaction; the round's row lock makes workers take turns."""
    origin = origin or Origin(source_address="worker", user_agent="iam.worker")
    now = clock.now()
    with db.transaction() as session:
        round_ = session.scalar(
            select(RevocationRound)
            .where(RevocationRound.state.in_(LIVE_ROUND_STATES))
            .order_by(RevocationRound.deadline)
            .limit(1)
            .with_for_update()
        )
        if round_ is None:
            return IDLE
        if round_.state == RoundState.ANNOUNCED.value:
            if as_utc(round_.deadline) <= now:
                return _start_execution(session, round_=round_, now=now, origin=origin)
            return _notice_batch(session, round_=round_, now=now, batch_size=batch_size)
        return _revocation_batch(session, round_=round_, now=now, batch_size=batch_size, origin=origin)


def _due_notice(session: Session, round_: RevocationRound, now: datetime) -> RevocationNotice | None:
    notices = list(
        session.scalars(
            select(RevocationNotice)
            .where(
                RevocationNotice.round_id == round_.id,
                RevocationNotice.state.in_(_OPEN_NOTICE),
                RevocationNotice.due_at <= now,
            )
            .order_by(RevocationNotice.due_at)
        )
    )
    if not notices:
        return None
    if notices[0].name == ANNOUNCEMENT:
        return notices[0]  # everyone is told first; reminders wait for the announcement to finish
    # Several reminders due at once (the worker was down): only the latest is sent, the others are skipped.
    for stale in notices[:-1]:
        stale.state = NoticeState.SKIPPED.value
        stale.finished_at = now
    return notices[-1]


def _notice_batch(session: Session, *, round_: RevocationRound, now: datetime, batch_size: int) -> Step:
    notice = _due_notice(session, round_, now)
    if notice is None:
        return IDLE
    cutoff_at = as_utc(round_.cutoff_at)
    statement = select(Account.id).where(affected(cutoff_at)).order_by(Account.id).limit(batch_size)
    if notice.cursor is not None:
        statement = statement.where(Account.id > notice.cursor)
    ids = list(session.scalars(statement))
    data = {
        "round_id": str(round_.id),
        "cutoff": cutoff_at.isoformat(),
        "deadline": as_utc(round_.deadline).isoformat(),
    }
    events_outbox.record_many(
        session,
        [Event.new(EVENT_ANNOUNCED, {"account_id": str(i), **data}, producer=PRODUCER) for i in ids],
        outbox,
    )
    if notice.started_at is None:
        notice.started_at = now
    notice.sent += len(ids)
    if ids:
        notice.cursor = ids[-1]
        notice.state = NoticeState.SENDING.value
    if notice.name == ANNOUNCEMENT:
        round_.announced_count += len(ids)
    if len(ids) < batch_size:
        notice.state = NoticeState.DONE.value
        notice.finished_at = now
    return Step("notice", len(ids), round_.id, notice.name)


def _start_execution(session: Session, *, round_: RevocationRound, now: datetime, origin: Origin) -> Step:
    round_.state = RoundState.EXECUTING.value
    round_.execution_started_at = now
    session.execute(
        update(RevocationNotice)
        .where(RevocationNotice.round_id == round_.id, RevocationNotice.state.in_(_OPEN_NOTICE))
        .values(state=NoticeState.SKIPPED.value, finished_at=now)
    )
    _audit_round(
        session, action="revocation.execution_started", round_=round_, actor=WORKER_ACTOR, origin=origin
    )
    return Step("started", 0, round_.id)


def _with_standing_sessions(
    session: Session, ids: list[uuid.UUID], after: uuid.UUID | None, now: datetime
) -> set[uuid.UUID]:
    """The accounts of the batch with anything still to end (inactive accounts rarely have any).

    The batch is every affected account in the id range (after, max(ids)]: one query over that range of
    the account_id indexes (no list of a thousand parameters), narrowed to the batch here.
    """
    last = max(ids)

    def in_range(column: Any) -> ColumnElement[bool]:
        return and_(column > after, column <= last) if after is not None else column <= last

    standing: Any = union(
        select(SsoSession.account_id).where(in_range(SsoSession.account_id), SsoSession.ended_at.is_(None)),
        select(RefreshToken.account_id).where(
            in_range(RefreshToken.account_id), RefreshToken.revoked_at.is_(None)
        ),
        select(AccessToken.account_id).where(
            in_range(AccessToken.account_id), AccessToken.revoked_at.is_(None), AccessToken.expires_at > now
        ),
    )
    return {account_id for account_id in session.scalars(standing) if account_id} & set(ids)


def _revocation_batch(
    session: Session, *, round_: RevocationRound, now: datetime, batch_size: int, origin: Origin
) -> Step:
    cutoff_at = as_utc(round_.cutoff_at)
    batch = select(Account.id).where(affected(cutoff_at)).order_by(Account.id).limit(batch_size)
    after = round_.execute_cursor
    if after is not None:
        batch = batch.where(Account.id > after)
    announcement = session.get(RevocationNotice, (round_.id, ANNOUNCEMENT))
    if announcement is not None and announcement.state != NoticeState.DONE.value:
        # The deadline came before everyone was told: those never told are not revoked (D-REV-2).
        if announcement.cursor is None:
            batch = batch.where(false())
        else:
            batch = batch.where(Account.id <= announcement.cursor)
    picked = list(session.scalars(batch))
    if not picked:
        return _finish(session, round_=round_, now=now, origin=origin)
    # The UPDATE repeats the predicate: a login holding one of the rows finishes first, PostgreSQL checks
    # the predicate again on the row the login left, and the new last access takes that account out; the
    # accounts revoked are those the UPDATE returns. (No FOR UPDATE on the pick: locking each row before
    # updating it wrote every row twice.) The id range next to the list lets PostgreSQL walk the primary key
    # over the batch's stretch only, whatever the table's size.
    in_range = and_(Account.id <= picked[-1], *([Account.id > after] if after is not None else []))
    ids = sorted(
        session.scalars(
            update(Account)
            .where(in_range, Account.id.in_(picked), affected(cutoff_at))
            .values(
                state=AccountState.REVOKED.value,
                revoked_at=now,
                credentials_version=Account.credentials_version + 1,
            )
            .returning(Account.id)
            .execution_options(synchronize_session=False)
        )
    )
    round_.execute_cursor = picked[-1]
    if not ids:  # every account picked had just logged in
        return Step("revoked", 0, round_.id)
    for account_id in sorted(_with_standing_sessions(session, ids, after, now)):
        end_all_sessions(session, account_id=account_id, now=now)
    events_outbox.record_many(
        session,
        [
            Event.new(
                EVENT_REVOKED,
                {
                    "account_id": str(i),
                    "reason": "inactivity",
                    "round_id": str(round_.id),
                    "revoked_at": now.isoformat(),
                },
                producer=PRODUCER,
            )
            for i in ids
        ],
        outbox,
    )
    # One audit entry per revoked account (D-REV-3), written at once (COPY on PostgreSQL).
    events_outbox.insert_rows(
        session,
        AuditEntry.__table__,  # type: ignore[arg-type]
        [
            {
                "id": uuid.uuid4(),
                "occurred_at": now,
                "action": REVOKED_ACTION,
                "account_id": i,
                "actor": WORKER_ACTOR,
                "source_address": origin.source_address,
                "user_agent": origin.user_agent,
                "request_id": origin.request_id,
                "details": {"round_id": str(round_.id), "reason": "inactivity"},
            }
            for i in ids
        ],
    )
    round_.revoked_count += len(ids)
    return Step("revoked", len(ids), round_.id)


def _finish(session: Session, *, round_: RevocationRound, now: datetime, origin: Origin) -> Step:
    round_.state = RoundState.DONE.value
    round_.done_at = now
    round_.kept_count = _kept(session, round_)
    _audit_round(
        session,
        action="revocation.round_done",
        round_=round_,
        actor=WORKER_ACTOR,
        origin=origin,
        announced=round_.announced_count,
        kept=round_.kept_count,
        revoked=round_.revoked_count,
    )
    return Step("done", round_.revoked_count, round_.id)


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
