"""Helpers shared by istanze's backend tests (a uniquely named module: `make test` runs every suite in one
pytest session)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from istanze.applications import service as applications
from istanze.applications.submission import CodeChecker, Submission, submit
from istanze.contacts.service import update_contacts
from istanze.extensions import db
from istanze.procedures import service as procedures
from sqlalchemy.orm import Session

D3 = "modello-d3"
# A domicile in Rome that passes D-IST-4's checks: what a receipt's applicant block is made of.
ROME_CONTACTS = {
    "mobile_phone": "333 123 4567",
    "address": "Via Garibaldi 12",
    "postal_code": "00153",
    "nation": "Italia",
    "province": "RM",
    "comune": "Roma",
}


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


def open_d3_for(
    session: Session,
    *,
    account_id: uuid.UUID,
    form: Mapping[str, Any],
    opens_local: datetime,
    closes_local: datetime,
    title_it: str = "Modello D3",
) -> None:
    """modello-d3 published for ATA staff and `account_id` declared ATA (D-IST-1, D-IST-6)."""
    publish_procedure(
        session, code=D3, form=form, opens_local=opens_local, closes_local=closes_local, title_it=title_it
    )
    applications.declare_category(session, account_id=account_id, staff_category="ata")


def open_d3_draft(
    session: Session,
    *,
    account_id: uuid.UUID,
    form: Mapping[str, Any],
    opens_local: datetime,
    closes_local: datetime,
    answers: Mapping[str, Any],
    saved_at: datetime,
    section: str = "sedi",
    contacts: Mapping[str, str] | None = None,
    title_it: str = "Modello D3",
) -> None:
    """open_d3_for, then `account_id`'s contacts (when given) and one section saved at `saved_at`: a draft
    ready to submit (D-IST-2, D-IST-4)."""
    open_d3_for(
        session,
        account_id=account_id,
        form=form,
        opens_local=opens_local,
        closes_local=closes_local,
        title_it=title_it,
    )
    if contacts is not None:
        update_contacts(session, account_id=account_id, data=contacts, now=lambda: saved_at)
    applications.save_section(
        session, account_id=account_id, code=D3, section=section, answers=answers, now=lambda: saved_at
    )


def code_ok(account_id: uuid.UUID, code: str) -> dict[str, Any]:
    """enablement.check_personal_code's answer for a right code (the RPC is tested by enablement)."""
    return {"valid": True, "status": "ok"}


def submit_d3(
    *,
    account_id: uuid.UUID,
    key: str,
    arrived_at: datetime,
    personal_code: str = "Codice-1",
    check_code: CodeChecker = code_ok,
    applicant: str | None = None,
) -> Submission:
    """Submit `account_id`'s modello-d3 draft under the ministry's protocol settings (D-IST-3)."""
    return submit(
        db,
        account_id=account_id,
        code=D3,
        personal_code=personal_code,
        key=key,
        check_code=check_code,
        arrived_at=arrived_at,
        administration="m_pi",
        aoo="AOODGPER",
        register="REGISTRO UFFICIALE",
        applicant=applicant,
    )
