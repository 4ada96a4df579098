"""Demonstration data for `make run` (`flask --app enablement demo-data`), idempotent.

Offices always; the people only once IAM's facts about them have reached the accounts copy (run it again
after IAM's demo data: `make run` runs every loader at each start): mario.rossi enabled with the personal
code DEMO_PERSONAL_CODE, giulia.bianchi with a pending request, paolo.neri and sara.conti operators.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from polis.db import Database
from sqlalchemy import select

from enablement.accounts.models import Account
from enablement.offices import service as offices
from enablement.offices.models import AUTHORISED, SCHOOL
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
    now = datetime.now(UTC)
    done: list[str] = []
    with db.transaction() as session:
        by_code = {
            code: offices.ensure_office(session, code=code, kind=kind, name=name, address=address)
            for code, kind, name, address in OFFICES
        }
        done.append(f"{len(by_code)} offices")
        known = {a.username: a for a in session.scalars(select(Account)) if a.username}
        for username, code in OPERATORS:
            if username in known:
                offices.assign(
                    session, operator_id=known[username].account_id, office=by_code[code], assigned_by="demo"
                )
                done.append(f"operator {username} at {code}")
        ph = hashing.hasher()
        for username, state, codice_fiscale in PEOPLE:
            account = known.get(username)
            if (
                account is None
                or session.scalars(
                    select(EnablementRequest.id).where(EnablementRequest.account_id == account.account_id)
                ).first()
            ):
                continue
            session.add(
                EnablementRequest(
                    number=f"ENA-DEMO-{len(done):04d}",
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
            code_hash = ph.hash(DEMO_PERSONAL_CODE)
            session.merge(
                PersonalCode(
                    account_id=account.account_id,
                    code_hash=code_hash,
                    temporary_hash=None,
                    state=ACTIVE if state == CONFIRMED else AWAITING_IDENTIFICATION,
                    failures=0,
                    recovery_failures=0,
                    changed_at=now,
                )
            )
            done.append(f"{username} {state}")
    return ", ".join(done)
