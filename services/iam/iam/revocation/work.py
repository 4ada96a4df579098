"""One pass of IAM's revocation worker (D-REV-2 ... D-REV-4): the next batch of the live round that is due."""

from __future__ import annotations

from polis.db import Database
from sqlalchemy import select

from iam.audit.service import Origin
from iam.revocation import clock
from iam.revocation.announce import notice_batch
from iam.revocation.common import IDLE, LIVE_ROUND_STATES, Step, as_utc
from iam.revocation.execute import revocation_batch, start_execution
from iam.revocation.models import RevocationRound, RoundState


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
                return start_execution(session, round_=round_, now=now, origin=origin)
            return notice_batch(session, round_=round_, now=now, batch_size=batch_size)
        return revocation_batch(session, round_=round_, now=now, batch_size=batch_size, origin=origin)
