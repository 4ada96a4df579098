"""Helpers shared by istanze's backend tests (a uniquely named module: `make test` runs every suite in one
pytest session)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from istanze.procedures import service as procedures
from sqlalchemy.orm import Session


def publish_procedure(
    session: Session,
    *,
    code: str,
    form: Mapping[str, Any],
    opens_local: datetime,
    closes_local: datetime,
    staff_categories: Sequence[str] = ("ata",),
    title_it: str = "Modello D3",
    title_en: str = "Form D3",
) -> None:
    """Define and publish one procedure (D-IST-1) with empty descriptions."""
    p = procedures.define(
        session,
        code=code,
        title_it=title_it,
        title_en=title_en,
        description_it="",
        description_en="",
        staff_categories=list(staff_categories),
        opens_local=opens_local,
        closes_local=closes_local,
        form=form,
    )
    procedures.publish(session, code=code, version=p.version)
