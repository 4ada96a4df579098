"""One counter row per calendar year: the last protocol number given in that year."""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer
from sqlalchemy.orm import Mapped, mapped_column

from istanze.models import Base


class ProtocolCounter(Base):
    __tablename__ = "protocol_counters"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_number: Mapped[int] = mapped_column(BigInteger)
