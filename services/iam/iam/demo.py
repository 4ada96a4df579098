"""IAM's demonstration data for `make run` (`flask --app iam demo-data`): accounts with known demo passwords.

Idempotent: an entry whose username exists is left alone. Add entries to DEMO_ACCOUNTS (the MI account and the
security officer belong here too); each is created active, with its iam.account_registered fact for the
notifier's read model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from codicefiscale import codicefiscale
from polis.db import Database
from sqlalchemy import select

from iam.accounts import service as accounts
from iam.accounts.models import Account, AccountKind, AccountState
from iam.passwords import hashing


@dataclass(frozen=True)
class DemoAccount:
    username: str
    first_name: str
    last_name: str
    birth_date: date
    sex: str
    birth_place: str  # comune or foreign state, as python-codicefiscale knows it
    password: str  # a demo password, listed in the README: never a real one
    personal_email: str | None = None
    institutional_email: str | None = None
    language: str = "it"
    kind: AccountKind = AccountKind.ORDINARY
    state: AccountState = AccountState.ACTIVE
    roles: tuple[str, ...] = field(default=())
    security_question: str = "Il nome del mio primo animale?"
    security_answer: str = "Fuffi"

    @property
    def codice_fiscale(self) -> str:
        sex: Any = self.sex  # "M" or "F": the library types it as a Literal
        return codicefiscale.encode(
            self.last_name, self.first_name, sex, self.birth_date.isoformat(), self.birth_place
        )


DEMO_ACCOUNTS: list[DemoAccount] = [
    DemoAccount(
        username="mario.rossi",
        first_name="Mario",
        last_name="Rossi",
        birth_date=date(1980, 1, 1),
        sex="M",
        birth_place="Roma",
        password="lampone tavolo bicicletta nuvola",  # noqa: S106 - a demo password, in the README
        personal_email="mario.rossi@example.it",
    ),
    DemoAccount(
        username="giulia.bianchi",
        first_name="Giulia",
        last_name="Bianchi",
        birth_date=date(1985, 7, 22),
        sex="F",
        birth_place="Milano",
        password="girasole treno montagna biscotto",  # noqa: S106 - a demo password, in the README
        personal_email="giulia.bianchi@example.it",
    ),
    DemoAccount(
        username="niccolo.damico",
        first_name="Niccolò",
        last_name="D'Amico",
        birth_date=date(1975, 5, 10),
        sex="M",
        birth_place="Firenze",
        password="violino pioggia agosto lanterna",  # noqa: S106 - a demo password, in the README
        personal_email="niccolo.damico@example.it",
    ),
    DemoAccount(
        username="anna.muller",
        first_name="Anna",
        last_name="Müller",
        birth_date=date(1990, 3, 15),
        sex="F",
        birth_place="Germania",
        password="orange kettle river lantern",  # noqa: S106 - a demo password, in the README
        personal_email="anna.muller@example.com",
        language="en",
    ),
    # Institutional (MI) accounts (D-ACC-2; recovery/personal-area work): as if imported by `mi-import`,
    # with a demo password already set (a real import leaves none: a security officer issues a temporary one).
    DemoAccount(
        username="paolo.neri",
        first_name="Paolo",
        last_name="Neri",
        birth_date=date(1975, 3, 10),
        sex="M",
        birth_place="Bari",
        password="quaderno lavagna gessetto campanella",  # noqa: S106 - a demo password, in the README
        institutional_email="paolo.neri@istruzione.it",
        kind=AccountKind.MI,
        roles=("operator",),  # the demo operator of an office (enablement demo data, D-ENA-3)
    ),
    # The security officer: may reset MI passwords at /iam/area-riservata/sicurezza (D-ACC-2).
    DemoAccount(
        username="sara.conti",
        first_name="Sara",
        last_name="Conti",
        birth_date=date(1970, 5, 5),
        sex="F",
        birth_place="Napoli",
        password="faro scogliera gabbiano tramonto",  # noqa: S106 - a demo password, in the README
        personal_email="sara.conti@example.it",
        institutional_email="sara.conti@istruzione.it",
        kind=AccountKind.MI,
        roles=("security_officer", "operator"),
    ),
]


def load_demo_data(db: Database) -> str:
    """Create the demo accounts that do not exist yet; say how many were added."""
    added = 0
    for entry in DEMO_ACCOUNTS:
        with db.transaction() as session:
            taken = session.scalar(
                select(Account.id).where(
                    (Account.username == entry.username)
                    | (
                        (Account.codice_fiscale == entry.codice_fiscale)
                        & (Account.state != AccountState.REVOKED.value)
                    )
                )
            )
            if taken is not None:
                continue
            accounts.create_account(
                session,
                person=accounts.PersonalData(
                    codice_fiscale=entry.codice_fiscale,
                    first_name=entry.first_name,
                    last_name=entry.last_name,
                    birth_date=entry.birth_date,
                    sex=entry.sex,
                    birth_place_code=codicefiscale.encode_birthplace(
                        entry.birth_place, entry.birth_date.isoformat()
                    ),
                    birth_place_name=entry.birth_place,
                ),
                kind=entry.kind,
                state=entry.state,
                language=entry.language,
                username=entry.username,
                personal_email=entry.personal_email,
                personal_email_verified=entry.personal_email is not None,
                institutional_email=entry.institutional_email,
                security_question=entry.security_question,
                security_answer_hash=hashing.hash_secret(entry.security_answer),
                password_hash=hashing.hash_secret(entry.password),
                roles=list(entry.roles),
            )
            added += 1
    return f"{added} demo accounts added, {len(DEMO_ACCOUNTS) - added} already present"
