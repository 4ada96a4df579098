"""Giving protocol numbers: progressive per calendar year, at least 7 digits, no gaps, never reused.

The number is taken by incrementing the year's counter row inside the submission's own transaction: the
row stays locked until that transaction ends, so concurrent submissions (in any number of processes) get
consecutive numbers in commit order, and a submission that rolls back gives its number back with it — no
gap, and no number is ever seen by anyone twice. A sequence would be faster but leaves gaps on rollback,
which art. 57 of DPR 445/2000 does not allow.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import cast
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, Table, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from istanze.procedures.window import ROME
from istanze.protocol.models import ProtocolCounter

DIGITS = 7  # D-IST-6: at least seven digits
REGISTER = "REGISTRO UFFICIALE"


@dataclass(frozen=True)
class ProtocolNumber:
    year: int
    number: int
    registered_at: datetime  # aware

    @property
    def text(self) -> str:
        """The number as printed: zero-padded to at least seven digits."""
        return f"{self.number:0{DIGITS}d}"

    def segnatura(self, *, administration: str, aoo: str, register: str = REGISTER) -> str:
        """The segnatura as the protocollo informatico prints it: AOO, register, number, date."""
        day = self.registered_at.astimezone(ZoneInfo(ROME)).strftime("%d/%m/%Y")
        return f"{administration}.{aoo}.{register}.U.{self.text}.{day}"


_counters = cast(Table, ProtocolCounter.__table__)
# Built once: each submission binds only the year (issue 15, P6).
_TAKE = (
    update(_counters)
    .where(_counters.c.year == bindparam("p_year", type_=Integer()))
    .values(last_number=_counters.c.last_number + 1)
    .returning(_counters.c.last_number)
)


def next_number(session: Session, *, at: datetime) -> ProtocolNumber:
    """The next number of the calendar year (Italian time) of `at`, taken in `session`'s transaction."""
    year = at.astimezone(ZoneInfo(ROME)).year
    taken = session.execute(_TAKE, {"p_year": year}).scalar()
    if taken is None:
        # First number of the year: create the row; a racing first creator wins, then we increment.
        try:
            with session.begin_nested():
                session.execute(insert(ProtocolCounter).values(year=year, last_number=1))
            taken = 1
        except IntegrityError:
            return next_number(session, at=at)
    return ProtocolNumber(year=year, number=int(taken), registered_at=at)


def last_number(session: Session, *, year: int) -> int:
    """The last number given in `year` (0 when none)."""
    return session.scalar(select(ProtocolCounter.last_number).where(ProtocolCounter.year == year)) or 0
