"""The worker's notice batches (D-REV-2, D-REV-4): the announcement, then each reminder when it falls due,
to every account still affected, in id order from the notice's checkpoint.

A batch writes its outbox rows (iam.revocation_announced; on PostgreSQL in the statement that picks the
batch, see envelopes.py) and moves the notice's cursor in one transaction, under the round's row lock: a
crash resumes after the last committed batch, never skipping an account and never notifying one twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from iam.accounts.models import Account
from iam.revocation import envelopes
from iam.revocation.common import (
    EVENT_ANNOUNCED,
    IDLE,
    OPEN_NOTICE,
    Step,
    affected,
    as_utc,
)
from iam.revocation.models import ANNOUNCEMENT, NoticeState, RevocationNotice, RevocationRound


def due_notice(session: Session, round_: RevocationRound, now: datetime) -> RevocationNotice | None:
    notices = list(
        session.scalars(
            select(RevocationNotice)
            .where(
                RevocationNotice.round_id == round_.id,
                RevocationNotice.state.in_(OPEN_NOTICE),
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


def notice_batch(session: Session, *, round_: RevocationRound, now: datetime, batch_size: int) -> Step:
    """The next batch of the notice that is due: an iam.revocation_announced outbox row for each of the
    next affected accounts after the notice's checkpoint, and the checkpoint moved, in one transaction."""
    notice = due_notice(session, round_, now)
    if notice is None:
        return IDLE
    cutoff_at = as_utc(round_.cutoff_at)
    pick = select(Account.id).where(affected(cutoff_at)).order_by(Account.id).limit(batch_size)
    if notice.cursor is not None:
        pick = pick.where(Account.id > notice.cursor)
    shape = envelopes.template(
        EVENT_ANNOUNCED,
        {
            "round_id": str(round_.id),
            "cutoff": cutoff_at.isoformat(),
            "deadline": as_utc(round_.deadline).isoformat(),
        },
    )
    if session.get_bind().dialect.name == "postgresql":
        # One statement: the pick and its outbox rows (the pick's CTE is read twice, so computed once).
        picked = pick.cte("picked")
        told = envelopes.numbered(picked.c.id, "told")
        values = envelopes.literal_values(shape, envelopes.IdSeries.new())
        rows = envelopes.insert_from(told, **values).cte("event_rows")
        ids = list(session.scalars(select(picked.c.id).add_cte(rows).order_by(picked.c.id)))
    else:
        ids = list(session.scalars(pick))
        envelopes.insert_rows(session, ids, shape)
    advance(notice, round_=round_, ids=ids, now=now, batch_size=batch_size)
    return Step("notice", len(ids), round_.id, notice.name)


def advance(
    notice: RevocationNotice, *, round_: RevocationRound, ids: list[Any], now: datetime, batch_size: int
) -> None:
    """The notice's checkpoint after a batch told `ids`: done when the batch was not full."""
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
