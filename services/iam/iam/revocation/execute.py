"""The worker's execution batches (D-REV-3, D-REV-4): at the deadline every account still affected is
revoked, a batch of thousands at a time, in a few set statements per batch.

One batch is one transaction under the round's row lock:

1. one UPDATE of the accounts that picks its own batch and repeats the predicate on the rows it changes.
   On PostgreSQL the batches walk the accounts table in its physical order: the pick is the first affected
   accounts told (the announcement's cursor is read by the statement itself) after the walk's checkpoint,
   a heap position, within a window of blocks (a TID range scan), and the UPDATE reaches them by their
   position (a TID scan): the table's pages are read and written in order, as a bare UPDATE of the same
   rows does, and the username and codice fiscale indexes are written in the order they were loaded,
   instead of at random. Elsewhere (SQLite) the pick is the first affected ids after an id checkpoint.
   A login holding one of the rows finishes first; PostgreSQL then checks the predicate again on the row
   the login left, and the new last access takes that account out (kept, not revoked). The accounts
   revoked are exactly those the UPDATE returns;
2. an `iam.account_revoked` outbox row and an `account.revoked` audit entry per revoked account: on
   PostgreSQL inside the UPDATE's statement (data-modifying CTEs: the rows never travel to Python and back),
   elsewhere a multi-row INSERT; the event's envelope is the text `Event.to_json()` gives, from a template
   validated against the contract once per batch (envelopes.py);
3. the checkpoint moves and the round's count by the batch's (on PostgreSQL in the same statement, which
   also names the revoked accounts with a session or token still standing: one statement and Python sees
   four values);
4. the sessions, refresh families and access tokens of the revoked accounts that have any still standing
   are ended with set statements, and the back-channel logouts their clients are owed are written
   (`end_sessions`: the effects of `sessions.end_all_sessions`, for many accounts at once).

The physical walk ends at the table's size when the execution began. An account whose row moved meanwhile
(any update writes a new row version, anywhere in the table: a failed login, an ops change) may have moved
behind the walk, or past its end: so the walk is followed by a sweep, batches of whatever affected account
told is left, found by a scan of the whole table, until none is. Revoked accounts are not affected any more,
so neither the walk nor the sweep can revoke anyone twice, and the sweep needs no checkpoint.

A kill -9 anywhere rolls the whole batch back: the next batch starts from the last committed checkpoint,
so nobody is skipped and nobody is revoked or told twice; the counts move in the same transaction.
"""

from __future__ import annotations

import functools
import math
import uuid
from datetime import UTC, datetime
from typing import Any

from polis.events import outbox as events_outbox
from sqlalchemy import (
    ARRAY,
    JSON,
    BigInteger,
    ColumnElement,
    DateTime,
    Integer,
    Select,
    String,
    Text,
    Uuid,
    and_,
    any_,
    bindparam,
    case,
    cast,
    exists,
    false,
    func,
    insert,
    literal,
    literal_column,
    select,
    text,
    union,
    update,
)
from sqlalchemy.orm import Session, aliased
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.types import UserDefinedType

from iam.accounts.models import Account, AccountState
from iam.audit.models import AuditEntry
from iam.audit.service import Origin
from iam.oidc import backchannel
from iam.oidc.models import AccessToken, RefreshToken
from iam.revocation import envelopes
from iam.revocation.common import (
    EVENT_REVOKED,
    OPEN_NOTICE,
    REVOKED_ACTION,
    WORKER_ACTOR,
    Step,
    affected,
    as_utc,
    audit_round,
    kept,
)
from iam.revocation.models import ANNOUNCEMENT, NoticeState, RevocationNotice, RevocationRound, RoundState
from iam.signin.models import SsoSession

AUDIT_COLUMNS = (
    "id",
    "occurred_at",
    "action",
    "account_id",
    "actor",
    "source_address",
    "user_agent",
    "request_id",
    "details",
)
OUTBOX_COLUMNS = ("event_id", "event_type", "payload", "created_at", "attempts")
_EVENT_ID, _ACCOUNT_ID = "@@event-id@@", "@@account-id@@"


def start_execution(session: Session, *, round_: RevocationRound, now: datetime, origin: Origin) -> Step:
    """Announced -> executing at the deadline: the notices not yet finished are skipped; on PostgreSQL the
    physical walk is set to start at the table's first block and end at its size now."""
    round_.state = RoundState.EXECUTING.value
    round_.execution_started_at = now
    if _on_postgresql(session):
        _begin_walk(session, round_)
    session.execute(
        update(RevocationNotice)
        .where(RevocationNotice.round_id == round_.id, RevocationNotice.state.in_(OPEN_NOTICE))
        .values(state=NoticeState.SKIPPED.value, finished_at=now)
    )
    audit_round(
        session, action="revocation.execution_started", round_=round_, actor=WORKER_ACTOR, origin=origin
    )
    return Step("started", 0, round_.id)


# --- the events and audit entries of a batch ----------------------------------------------------------------


def revoked_event_data(round_: RevocationRound, account_id: str, now: datetime) -> dict[str, Any]:
    return {
        "account_id": account_id,
        "reason": "inactivity",
        "round_id": str(round_.id),
        "revoked_at": now.isoformat(),
    }


def _revoked_template(round_: RevocationRound, now: datetime) -> envelopes.Template:
    data = revoked_event_data(round_, "", now)
    del data["account_id"]
    return envelopes.template(EVENT_REVOKED, data)


def audit_details(round_: RevocationRound) -> dict[str, Any]:
    return {"round_id": str(round_.id), "reason": "inactivity"}


def _origin_values(origin: Origin) -> tuple[str | None, str | None, str | None]:
    # As audit.record keeps them.
    return origin.source_address, (origin.user_agent or "")[:300] or None, origin.request_id


def _generic_rows(
    session: Session, *, round_: RevocationRound, ids: list[uuid.UUID], now: datetime, origin: Origin
) -> None:
    """The batch's outbox rows and audit entries from Python (multi-row INSERTs; SQLite)."""
    envelopes.insert_rows(session, ids, _revoked_template(round_, now))
    source, agent, request_id = _origin_values(origin)
    details = audit_details(round_)
    events_outbox.insert_rows(
        session,
        AuditEntry.__table__,  # type: ignore[arg-type]
        [
            {
                "id": uuid.uuid4(),
                "occurred_at": now,
                "action": REVOKED_ACTION,
                "account_id": account_id,
                "actor": WORKER_ACTOR,
                "source_address": source,
                "user_agent": agent,
                "request_id": request_id,
                "details": details,
            }
            for account_id in ids
        ],
    )


_LAST_ID = uuid.UUID(int=(1 << 128) - 1)  # above every account id: no announcement limits the batch


class _Tid(UserDefinedType[str]):
    """PostgreSQL's `tid`: a row version's position in its table, (block, line), written as text."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "TID"


_TID = _Tid()
WALK_START = "(0,0)"  # before the table's first row (lines count from 1)
# A window holds about this many batches of told accounts at the table's average density: a batch mostly
# fills from one window (then the next starts right after its last row, rereading the window's rest), and
# where accounts are sparser it is a smaller batch, never a scan of the rest of the table.
_WINDOW_BATCHES = 1.25


def _on_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _begin_walk(session: Session, round_: RevocationRound) -> None:
    """The physical walk from the accounts table's start to its size in blocks now: rows written later
    (new versions of accounts updated meanwhile) are the sweep's."""
    blocks = session.scalar(
        text("SELECT pg_relation_size(CAST(:table AS regclass)) / current_setting('block_size')::int"),
        {"table": Account.__tablename__},
    )
    round_.execute_position = WALK_START
    round_.execute_walk_end = int(blocks or 0)


def _block(position: str) -> int:
    """The block of a tid's text, "(block,line)"."""
    return int(position.strip("()").split(",")[0])


def _window(round_: RevocationRound, batch_size: int) -> int:
    """The blocks of one walk batch's window: _WINDOW_BATCHES batches at the density of told accounts
    over the table walked (the announcement's count over the walk's blocks)."""
    walk_end = round_.execute_walk_end or 0
    told = max(round_.announced_count, 1)
    return max(1, math.ceil(_WINDOW_BATCHES * batch_size * walk_end / told))


@functools.cache
def _batch_statement(walk: bool) -> Select[Any]:
    """PostgreSQL: one batch as one statement, built once per process (every value a bound parameter, so
    SQLAlchemy compiles it once and psycopg prepares it). Data-modifying CTEs on the UPDATE's `RETURNING`
    write the batch's audit entries and outbox rows (ids from an `IdSeries` each), move the round's
    checkpoint and counts, and find the revoked accounts with a session or token still standing; the
    statement answers (revoked, picked, the walk's new position, accounts with something standing).
    Nothing travels to Python and back but those. `walk`: a batch of the physical walk (the first affected
    accounts told in the heap window (b_after, b_until), in heap order), else of the sweep (any affected
    accounts told, from a scan of the table). The parameters' names are none of a column's: SQLAlchemy
    would add a parameter named like a column of an updated table to its SET clause."""
    cutoff_at: Any = bindparam("b_cutoff_at", type_=DateTime(timezone=True))  # affected() takes it as a value
    now = bindparam("b_now", type_=DateTime(timezone=True))
    round_id = bindparam("b_round_id", type_=Uuid)
    batch_size = bindparam("b_batch_size", type_=Integer)
    # The deadline came before everyone was told: those never told are not revoked (D-REV-2). The
    # announcement's row is read by the statement (an InitPlan): up to its cursor while it is not done
    # (NULL, nobody, before its first batch), everyone once it is done or when there is none.
    announcement = (RevocationNotice.round_id == round_id, RevocationNotice.name == ANNOUNCEMENT)
    unfinished = exists().where(*announcement, RevocationNotice.state != NoticeState.DONE.value)
    told_up_to = case(
        (unfinished, select(RevocationNotice.cursor).where(*announcement).scalar_subquery()),
        else_=literal(_LAST_ID, Uuid),
    )
    # The pick is on its own name: a subquery on the updated table must not correlate to it.
    candidate = aliased(Account, name="candidate")
    candidates = (affected(cutoff_at, candidate), candidate.id <= told_up_to)
    until = _text("b_until")
    if walk:
        # A TID range scan of the window, sorted (the planner promises no order of its own), cut at the
        # batch's size; the UPDATE reaches the rows by their positions (a TID scan: no index probe).
        tid = literal_column("candidate.ctid", _TID)
        picked = (
            select(tid.label("tid"))
            .where(tid > cast(_text("b_after"), _TID), tid < cast(until, _TID), *candidates)
            .order_by(tid)
            .limit(batch_size)
            .cte("picked")
        )
        positions = cast(select(func.array_agg(picked.c.tid)).scalar_subquery(), ARRAY(_TID))
        target = literal_column(f"{Account.__tablename__}.ctid", _TID) == any_(positions)
    else:
        # No order, no checkpoint: what is left after the walk, usually nobody (one scan of the table).
        picked = select(candidate.id).where(*candidates).limit(batch_size).cte("picked")
        target = Account.id.in_(select(picked.c.id))
    revoked = (
        update(Account)
        .where(target, affected(cutoff_at), Account.id <= told_up_to)
        .values(
            state=AccountState.REVOKED.value,
            revoked_at=now,
            credentials_version=Account.credentials_version + 1,
        )
        .returning(Account.id)
        .cte("revoked")
    )
    rows = envelopes.numbered(revoked.c.id, "numbered")
    audit_rows = insert(AuditEntry.__table__).from_select(  # type: ignore[arg-type]
        list(AUDIT_COLUMNS),
        select(
            cast(envelopes.series_id(_text("b_audit_prefix"), _bigint("b_audit_base"), rows.c.n), Uuid),
            now,
            literal(REVOKED_ACTION, String),
            rows.c.account_id,
            literal(WORKER_ACTOR, String),
            bindparam("b_source_address", type_=String),
            bindparam("b_user_agent", type_=String),
            bindparam("b_request_id", type_=String),
            bindparam("b_details", type_=JSON),
        ),
    )
    event_rows = envelopes.insert_from(
        rows,
        event_type=literal(EVENT_REVOKED, String),
        head=_text("b_head"),
        middle=_text("b_middle"),
        tail=_text("b_tail"),
        created_at=bindparam("b_created_at", type_=DateTime(timezone=True)),
        prefix=_text("b_event_prefix"),
        base=_bigint("b_event_base"),
    )
    count = select(func.count()).select_from(revoked).scalar_subquery()
    picked_count = select(func.count()).select_from(picked).scalar_subquery()
    if walk:
        # A full batch ends at its last row (the window's rest is the next batch's), a short one at the
        # window's end.
        furthest = select(cast(func.max(picked.c.tid), Text)).scalar_subquery()
        position: Any = case((picked_count == batch_size, furthest), else_=until)
        moved = (
            update(RevocationRound)
            .where(RevocationRound.id == round_id)
            .values(execute_position=position, revoked_count=RevocationRound.revoked_count + count)
        )
    else:
        position = literal(None, String)
        moved = (
            update(RevocationRound)
            .where(RevocationRound.id == round_id, exists(select(revoked.c.id)))
            .values(revoked_count=RevocationRound.revoked_count + count)
        )

    def in_batch(column: Any) -> ColumnElement[bool]:
        return column.in_(select(revoked.c.id))  # inactive accounts rarely have anything standing

    standing = union(
        select(SsoSession.account_id).where(in_batch(SsoSession.account_id), SsoSession.ended_at.is_(None)),
        select(RefreshToken.account_id).where(
            in_batch(RefreshToken.account_id), RefreshToken.revoked_at.is_(None)
        ),
        select(AccessToken.account_id).where(
            in_batch(AccessToken.account_id), AccessToken.revoked_at.is_(None), AccessToken.expires_at > now
        ),
    ).subquery("standing")
    return (
        select(count, picked_count, position, select(func.array_agg(standing.c.account_id)).scalar_subquery())
        .add_cte(audit_rows.cte("audit_rows"))
        .add_cte(event_rows.cte("event_rows"))
        .add_cte(moved.cte("moved"))
    )


def _text(name: str) -> Any:
    return bindparam(name, type_=Text)


def _bigint(name: str) -> Any:
    return bindparam(name, type_=BigInteger)


def _run_batch(
    session: Session,
    *,
    round_: RevocationRound,
    now: datetime,
    batch_size: int,
    origin: Origin,
    window: tuple[str, str] | None,
) -> tuple[int, int, list[uuid.UUID]]:
    """One batch's statement (of the walk over `window`, else of the sweep); returns how many were
    revoked, how many picked and those with something standing. The round's checkpoint and count moved in
    the statement: the loaded round is told so (no flush, no stale value)."""
    shape = _revoked_template(round_, now)
    audit_ids, event_ids = envelopes.IdSeries.new(), envelopes.IdSeries.new()
    source, agent, request_id = _origin_values(origin)
    after, until = window or (WALK_START, WALK_START)
    count, picked, position, standing = session.execute(
        _batch_statement(window is not None),
        {
            "b_cutoff_at": as_utc(round_.cutoff_at),
            "b_now": now,
            "b_after": after,
            "b_until": until,
            "b_round_id": round_.id,
            "b_batch_size": batch_size,
            "b_audit_prefix": audit_ids.prefix,
            "b_audit_base": audit_ids.base,
            "b_source_address": source,
            "b_user_agent": agent,
            "b_request_id": request_id,
            "b_details": audit_details(round_),
            "b_head": shape.head,
            "b_middle": shape.middle,
            "b_tail": shape.tail,
            "b_created_at": datetime.now(UTC),
            "b_event_prefix": event_ids.prefix,
            "b_event_base": event_ids.base,
        },
    ).one()
    if window is not None:
        set_committed_value(round_, "execute_position", position)
    if count:
        set_committed_value(round_, "revoked_count", round_.revoked_count + count)
    return count, picked, sorted(standing or ())


def _revoke_on_postgresql(
    session: Session, *, round_: RevocationRound, now: datetime, batch_size: int, origin: Origin
) -> tuple[int, list[uuid.UUID], bool]:
    """A batch of the physical walk, or once it has passed its end a batch of the sweep; returns how many
    were revoked, those with something standing, and whether the round is done (the sweep found nobody).
    A walk batch that reaches the walk's end and revokes nobody is followed by the sweep's batch in the
    same transaction (as a batch that finds nobody finishes the round on SQLite)."""
    if round_.execute_position is None or round_.execute_walk_end is None:
        _begin_walk(session, round_)  # a round that was executing before the walk existed (0012)
        session.flush()
    walk_end = round_.execute_walk_end or 0
    after = round_.execute_position or WALK_START
    if _block(after) < walk_end:
        until = f"({min(_block(after) + _window(round_, batch_size), walk_end)},0)"
        count, picked, standing = _run_batch(
            session, round_=round_, now=now, batch_size=batch_size, origin=origin, window=(after, until)
        )
        if count or picked == batch_size or _block(until) < walk_end:
            return count, standing, False
    count, picked, standing = _run_batch(
        session, round_=round_, now=now, batch_size=batch_size, origin=origin, window=None
    )
    return count, standing, picked == 0


# --- sessions and tokens (the effects of sessions.end_all_sessions, for many accounts) --------------------


def _with_standing_sessions(
    session: Session, ids: list[uuid.UUID], after: uuid.UUID | None, now: datetime
) -> list[uuid.UUID]:
    """The accounts of the batch with anything still to end (inactive accounts rarely have any): one query
    over the batch's id range (after, max(ids)] of the account_id indexes, narrowed to the batch here."""
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
    return sorted({account_id for account_id in session.scalars(standing) if account_id} & set(ids))


def end_sessions(session: Session, *, account_ids: list[uuid.UUID], now: datetime) -> int:
    """End every session and token of these accounts and owe a back-channel logout to the clients of every
    session still standing: what `signin.sessions.end_all_sessions` does for one account, in four set
    statements for all of them, then `backchannel.schedule` for each account with a standing session.
    Returns the logouts owed."""
    if not account_ids:
        return 0
    # Not ended and not past the absolute timeout (as end_all_sessions): an idle session is included.
    standing = dict(
        session.execute(
            select(SsoSession.id, SsoSession.account_id).where(
                SsoSession.account_id.in_(account_ids),
                SsoSession.ended_at.is_(None),
                SsoSession.expires_at > now,
            )
        ).all()
    )
    session.execute(
        update(SsoSession)
        .where(SsoSession.account_id.in_(account_ids), SsoSession.ended_at.is_(None))
        .values(ended_at=now)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(RefreshToken)
        .where(RefreshToken.account_id.in_(account_ids), RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(AccessToken)
        .where(
            AccessToken.account_id.in_(account_ids),
            AccessToken.revoked_at.is_(None),
            AccessToken.expires_at > now,
        )
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    # The logouts owed, as end_all_sessions owes them: per account, only for those with a standing session.
    by_account: dict[uuid.UUID, list[uuid.UUID]] = {}
    for sso_session_id, account_id in sorted(standing.items(), key=lambda item: (str(item[1]), str(item[0]))):
        by_account.setdefault(account_id, []).append(sso_session_id)
    return sum(
        backchannel.schedule(session, account_id=account_id, sso_session_ids=sessions, now=now)
        for account_id, sessions in by_account.items()
    )


# --- one batch ----------------------------------------------------------------------------------------------


def _pick(session: Session, *, round_: RevocationRound, batch_size: int) -> Select[Any]:
    """The next affected ids after the checkpoint, in id order (the SQLite path's batch)."""
    cutoff_at = as_utc(round_.cutoff_at)
    # The pick is on its own name: a subquery on the updated table must not correlate to it.
    candidate = aliased(Account)
    pick = select(candidate.id).where(affected(cutoff_at, candidate)).order_by(candidate.id).limit(batch_size)
    if round_.execute_cursor is not None:
        pick = pick.where(candidate.id > round_.execute_cursor)
    announcement = session.get(RevocationNotice, (round_.id, ANNOUNCEMENT))
    if announcement is not None and announcement.state != NoticeState.DONE.value:
        # The deadline came before everyone was told: those never told are not revoked (D-REV-2).
        told: ColumnElement[bool] = (
            false() if announcement.cursor is None else candidate.id <= announcement.cursor
        )
        pick = pick.where(told)
    return pick


def _revoke_generic(
    session: Session, *, round_: RevocationRound, now: datetime, batch_size: int, origin: Origin
) -> tuple[int, list[uuid.UUID]]:
    """Elsewhere (SQLite): the UPDATE of the picked ids, then the rows, the standing check and the
    checkpoint from Python."""
    cutoff_at = as_utc(round_.cutoff_at)
    revoke = (
        update(Account)
        .where(Account.id.in_(_pick(session, round_=round_, batch_size=batch_size)), affected(cutoff_at))
        .values(
            state=AccountState.REVOKED.value,
            revoked_at=now,
            credentials_version=Account.credentials_version + 1,
        )
        .returning(Account.id)
        .execution_options(synchronize_session=False)
    )
    ids = sorted(session.scalars(revoke))
    if not ids:
        return 0, []
    _generic_rows(session, round_=round_, ids=ids, now=now, origin=origin)
    standing = _with_standing_sessions(session, ids, round_.execute_cursor, now)
    round_.execute_cursor = ids[-1]
    round_.revoked_count += len(ids)
    return len(ids), standing


def revocation_batch(
    session: Session, *, round_: RevocationRound, now: datetime, batch_size: int, origin: Origin
) -> Step:
    if _on_postgresql(session):
        count, standing, done = _revoke_on_postgresql(
            session, round_=round_, now=now, batch_size=batch_size, origin=origin
        )
        if done:
            return finish(session, round_=round_, now=now, origin=origin)
    else:
        count, standing = _revoke_generic(
            session, round_=round_, now=now, batch_size=batch_size, origin=origin
        )
        # Nothing left, or every account picked had just logged in: then the next batch picks the next.
        if not count and session.scalar(_pick(session, round_=round_, batch_size=1)) is None:
            return finish(session, round_=round_, now=now, origin=origin)
    if not count:
        return Step("revoked", 0, round_.id)
    end_sessions(session, account_ids=standing, now=now)
    return Step("revoked", count, round_.id)


def finish(session: Session, *, round_: RevocationRound, now: datetime, origin: Origin) -> Step:
    """Executing -> done: the counts frozen on the round, the round's last audit entry."""
    round_.state = RoundState.DONE.value
    round_.done_at = now
    round_.kept_count = kept(session, round_)
    audit_round(
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
