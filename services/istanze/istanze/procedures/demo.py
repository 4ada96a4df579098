"""Demo procedures for `make run` (D-IST-1): Modello D3 open now, Mobilità docenti closed, one upcoming."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from polis.db import Database
from sqlalchemy import select

from istanze.procedures import service
from istanze.procedures.models import Procedure
from istanze.procedures.window import ROME

SCHOOLS_FORM = {
    "sections": [
        {
            "id": "sedi",
            "title_it": "Scelta delle sedi",
            "title_en": "Choice of schools",
            "fields": [
                {"name": "schools", "type": "schools", "max_items": 30, "required": True},
                {
                    "name": "dichiarazione_veridicita",
                    "type": "declaration",
                    "required": True,
                    "label_it": "Dichiaro, ai sensi degli artt. 46 e 47 del DPR 445/2000, che quanto indicato"
                    " corrisponde al vero.",
                    "label_en": "I declare under articles 46 and 47 of DPR 445/2000 that the above is true.",
                },
            ],
        }
    ]
}


def _local_days_from_now(days: int) -> datetime:
    # 14:00 local: never in the hour the summer-time changes skip or repeat, so always a valid bound.
    today = datetime.now(ZoneInfo(ROME)).replace(tzinfo=None, minute=0, second=0, microsecond=0)
    return today.replace(hour=14) + timedelta(days=days)


DEMO = (
    (
        "modello-d3",
        "Modello D3 – scelta delle sedi (personale ATA)",  # noqa: RUF001
        "Form D3 – choice of schools (ATA staff)",  # noqa: RUF001
        ["ata"],
        -7,
        21,
    ),
    ("mobilita-docenti", "Mobilità docenti", "Teachers' transfers", ["docenti"], -60, -30),
    (
        "modello-b",
        "Modello B – graduatorie di istituto (docenti)",  # noqa: RUF001
        "Form B – school rankings (teachers)",  # noqa: RUF001
        ["docenti"],
        10,
        40,
    ),
)


def load_demo_procedures(db: Database) -> str:
    """Define and publish the demo procedures unless their codes already exist (idempotent)."""
    created = []
    with db.transaction() as session:
        for code, title_it, title_en, categories, opens, closes in DEMO:
            if session.scalar(select(Procedure.id).where(Procedure.code == code)) is not None:
                continue
            procedure = service.define(
                session,
                code=code,
                title_it=title_it,
                title_en=title_en,
                description_it=title_it,
                description_en=title_en,
                staff_categories=categories,
                opens_local=_local_days_from_now(opens),
                closes_local=_local_days_from_now(closes),
                form=SCHOOLS_FORM,
            )
            service.publish(session, code=code, version=procedure.version)
            created.append(code)
    return f"demo procedures created: {', '.join(created) or 'none (already there)'}"
