"""The revocation round (D-REV-4), its notices' checkpoints and the accounts kept by a login (D-REV-2)."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime

from sqlalchemy import JSON, Date, DateTime, ForeignKey, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from iam.models import Base


class RoundState(enum.StrEnum):
    DRAFT = "draft"
    ANNOUNCED = "announced"
    EXECUTING = "executing"
    DONE = "done"
    CANCELLED = "cancelled"


class NoticeState(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    DONE = "done"
    SKIPPED = "skipped"  # a later reminder was already due when this one's turn came


ANNOUNCEMENT = "announcement"


def reminder_name(days: int) -> str:
    return f"reminder-{days}"


class RevocationRound(Base):
    """One round. The affected set is a predicate, not a copy: accounts only ever leave it (a login moves
    their last access past the cut-off), so the batches walk the accounts with a checkpoint (in id order, on
    PostgreSQL in the table's physical order, then a sweep)."""

    __tablename__ = "revocation_rounds"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    state: Mapped[str] = mapped_column(String(16), index=True)
    cutoff: Mapped[date] = mapped_column(Date)  # unused since this day (Italian time)
    cutoff_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # its first instant, Europe/Rome
    deadline: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # stored in UTC
    reminder_days: Mapped[list[int]] = mapped_column(JSON)

    affected_at_preview: Mapped[int | None] = mapped_column(Integer, nullable=True)
    previewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    affected_at_announce: Mapped[int | None] = mapped_column(Integer, nullable=True)
    announced_count: Mapped[int] = mapped_column(Integer, default=0)
    # Frozen when the round ends; until then counted from revocation_keeps.
    kept_count: Mapped[int | None] = mapped_column(Integer, nullable=True)
    revoked_count: Mapped[int] = mapped_column(Integer, default=0)
    # Execution checkpoint where the batches walk in id order (SQLite): every affected account with an id
    # up to here is revoked.
    execute_cursor: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    # On PostgreSQL the batches walk the accounts table in its physical order (execute.py): the heap
    # position "(block,line)" up to which every affected account told is revoked, and the table's size in
    # blocks when the execution began, where the walk ends and the sweep of what it could not see begins.
    execute_position: Mapped[str | None] = mapped_column(String(32), nullable=True)
    execute_walk_end: Mapped[int | None] = mapped_column(Integer, nullable=True)

    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    announced_by: Mapped[str | None] = mapped_column(String(80), nullable=True)
    announced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    cancelled_by: Mapped[str | None] = mapped_column(String(80), nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    execution_started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class RevocationNotice(Base):
    """The checkpoint of one notice of a round (the announcement, each reminder): its outbox rows and the
    cursor move in one transaction, so a crash resumes after the last committed batch, never twice."""

    __tablename__ = "revocation_notices"

    round_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("revocation_rounds.id"), primary_key=True)
    name: Mapped[str] = mapped_column(String(32), primary_key=True)  # announcement | reminder-<days>
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    state: Mapped[str] = mapped_column(String(16))
    cursor: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    sent: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class RevocationKeep(Base):
    """An affected account that logged in before the deadline (D-REV-2): out of the round, counted kept."""

    __tablename__ = "revocation_keeps"

    round_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("revocation_rounds.id"), primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    kept_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
