"""Offices and operator assignments: created by ops or a security officer (D-ENA-10), audited."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from polis.db import Database
from polis.errors import NotFound, ValidationFailed
from sqlalchemy import select
from sqlalchemy.orm import Session

from enablement.audit import service as audit
from enablement.audit.service import Origin
from enablement.offices.models import KINDS, Office, OperatorAssignment


def ensure_office(session: Session, *, code: str, kind: str, name: str, address: str) -> Office:
    """The office with this code, created or updated (idempotent: demo data and ops use it)."""
    if kind not in KINDS:
        raise ValidationFailed(fields={"kind": ["unknown_kind"]})
    office = session.scalars(select(Office).where(Office.code == code.upper())).first()
    if office is None:
        office = Office(code=code.upper(), created_at=datetime.now(UTC))
        session.add(office)
    office.kind, office.name, office.address = kind, name, address
    session.flush()
    return office


def create_office(
    *, db: Database, code: str, kind: str, name: str, address: str, actor: str, origin: Origin
) -> Office:
    with db.transaction() as session:
        office = ensure_office(session, code=code, kind=kind, name=name, address=address)
        audit.record(
            session, action="office.saved", actor=actor, origin=origin, details={"office": office.code}
        )
        session.expunge(office)
        return office


def assign(session: Session, *, operator_id: uuid.UUID, office: Office, assigned_by: str) -> None:
    exists = session.scalars(
        select(OperatorAssignment).where(
            OperatorAssignment.operator_id == operator_id, OperatorAssignment.office_id == office.id
        )
    ).first()
    if exists is None:
        session.add(
            OperatorAssignment(
                operator_id=operator_id,
                office_id=office.id,
                assigned_by=assigned_by,
                assigned_at=datetime.now(UTC),
            )
        )
        session.flush()


def assign_operator(
    *, db: Database, operator_id: uuid.UUID, office_code: str, actor: str, origin: Origin
) -> None:
    """Assign an operator to an office (ops or a security officer), audited."""
    with db.transaction() as session:
        office = by_code(session, office_code)
        assign(session, operator_id=operator_id, office=office, assigned_by=actor)
        _audit_assignment(session, "operator.assigned", actor, operator_id, office, origin)


def _audit_assignment(
    session: Session, action: str, actor: str, operator_id: uuid.UUID, office: Office, origin: Origin
) -> None:
    audit.record(
        session,
        action=action,
        actor=actor,
        account_id=operator_id,
        origin=origin,
        details={"office": office.code},
    )


def unassign_operator(
    *, db: Database, operator_id: uuid.UUID, office_code: str, actor: str, origin: Origin
) -> None:
    """End an operator's assignment to an office (ops or a security officer), audited; from then on the
    operator no longer finds or confirms requests for it (D-ENA-10). NotFound when there was none."""
    with db.transaction() as session:
        office = by_code(session, office_code)
        assignment = session.scalars(
            select(OperatorAssignment).where(
                OperatorAssignment.operator_id == operator_id, OperatorAssignment.office_id == office.id
            )
        ).first()
        if assignment is None:
            raise NotFound("The operator is not assigned to this office.")
        session.delete(assignment)
        _audit_assignment(session, "operator.unassigned", actor, operator_id, office, origin)


def operators_by_office(session: Session) -> dict[uuid.UUID, list[uuid.UUID]]:
    """Each office's operators (account ids, in assignment order), for ops' list of offices."""
    found: dict[uuid.UUID, list[uuid.UUID]] = {}
    rows = session.execute(
        select(OperatorAssignment.office_id, OperatorAssignment.operator_id).order_by(
            OperatorAssignment.assigned_at
        )
    )
    for office_id, operator_id in rows:
        found.setdefault(office_id, []).append(operator_id)
    return found


def by_code(session: Session, code: str) -> Office:
    office = session.scalars(select(Office).where(Office.code == code.strip().upper())).first()
    if office is None:
        raise NotFound("No office has this code.")
    return office


def offices_of(session: Session, operator_id: uuid.UUID) -> list[Office]:
    """The offices an operator acts for (D-ENA-10)."""
    return list(
        session.scalars(
            select(Office)
            .join(OperatorAssignment, OperatorAssignment.office_id == Office.id)
            .where(OperatorAssignment.operator_id == operator_id)
            .order_by(Office.name)
        )
    )


def all_offices(session: Session) -> list[Office]:
    return list(session.scalars(select(Office).order_by(Office.kind, Office.name)))
