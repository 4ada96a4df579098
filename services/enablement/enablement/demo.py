"""Demonstration data for `make run` (`flask --app enablement demo-data`), idempotent.

Offices at once; the people when IAM's facts about them reach the accounts copy (the loader for those already
there; the iam.account_registered handler for later ones, in development only (POLIS_ENV=dev) and only
where demo data was loaded): mario.rossi enabled with the personal code DEMO_PERSONAL_CODE, giulia.bianchi
with a pending request, paolo.neri and sara.conti operators.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from polis.config import Env
from polis.db import Database
from sqlalchemy import select
from sqlalchemy.orm import Session

from enablement.accounts.models import Account
from enablement.offices import service as offices
from enablement.offices.models import AUTHORISED, SCHOOL, Office
from enablement.personal_codes import hashing
from enablement.personal_codes.models import ACTIVE, AWAITING_IDENTIFICATION, PersonalCode
from enablement.requests.models import CONFIRMED, PENDING, EnablementRequest

DEMO_PERSONAL_CODE = "Abilitato2026"
OFFICES = (
    ("RMIC8AB00X", SCHOOL, "Istituto Comprensivo Via Roma", "Via Roma 1, 00184 Roma"),
    ("MIPS01000C", SCHOOL, "Liceo Scientifico Galilei", "Corso Magenta 12, 20123 Milano"),
    (
        "USRLAZIO01",
        AUTHORISED,
        "Ufficio Scolastico Regionale per il Lazio",
        "Viale Giorgio Ribotta 41, 00144 Roma",
    ),
)
# (username, office code) of the demo operators.
OPERATORS = (("paolo.neri", "RMIC8AB00X"), ("sara.conti", "MIPS01000C"), ("sara.conti", "USRLAZIO01"))
PEOPLE = (("mario.rossi", CONFIRMED, "RSSMRA80A01H501U"), ("giulia.bianchi", PENDING, "BNCGLI85M41F205X"))


def load_demo_data(db: Database) -> str:
    with db.transaction() as session:
        by_code = {
            code: offices.ensure_office(session, code=code, kind=kind, name=name, address=address)
            for code, kind, name, address in OFFICES
        }
        done = [f"{len(by_code)} offices"]
        for account in session.scalars(select(Account)):
            done += set_up_person(session, account)
    return ", ".join(done)


def demo_loaded(session: Session) -> bool:
    """Development (make run, the system tests' stacks) and demo data ran here (its first office exists)."""
    if Env().name != "dev":
        return False
    return session.scalars(select(Office.id).where(Office.code == OFFICES[0][0])).first() is not None


def set_up_person(session: Session, account: Account) -> list[str]:
    """The demo role of this account, if it has one (idempotent): operator, enabled or pending."""
    done: list[str] = []
    for username, code in OPERATORS:
        if username == account.username:
            offices.assign(
                session,
                operator_id=account.account_id,
                office=offices.by_code(session, code),
                assigned_by="demo",
            )
            done.append(f"operator {username} at {code}")
    person = next((p for p in PEOPLE if p[0] == account.username), None)
    if (
        person is None
        or session.scalars(
            select(EnablementRequest.id).where(EnablementRequest.account_id == account.account_id)
        ).first()
    ):
        return done
    username, state, codice_fiscale = person
    now = datetime.now(UTC)
    session.add(
        EnablementRequest(
            number=f"ENA-DEMO-{PEOPLE.index(person) + 1:04d}",
            account_id=account.account_id,
            codice_fiscale=codice_fiscale,
            first_name=account.first_name,
            last_name=account.last_name,
            email=account.reference_address() or "",
            language=account.language,
            state=state,
            created_at=now,
            expires_at=now + timedelta(days=60),
            closed_at=now if state == CONFIRMED else None,
        )
    )
    session.merge(
        PersonalCode(
            account_id=account.account_id,
            code_hash=hashing.hasher().hash(DEMO_PERSONAL_CODE),
            temporary_hash=None,
            state=ACTIVE if state == CONFIRMED else AWAITING_IDENTIFICATION,
            failures=0,
            recovery_failures=0,
            changed_at=now,
        )
    )
    done.append(f"{username} {state}")
    return done
