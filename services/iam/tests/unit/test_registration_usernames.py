"""Usernames nome.cognome (D-ACC-2): lower-case ASCII, accents folded, apostrophes and spaces removed,
a numeric suffix on collision, race-safe under the unique constraint."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from iam.accounts.models import Account
from iam.accounts.service import assign_username, next_free_username, username_base, username_part
from iam.models import all_metadata
from polis.db import Database


@pytest.mark.parametrize(
    ("first", "last", "expected"),
    [
        ("Mario", "Rossi", "mario.rossi"),
        ("Niccolò", "D'Amico", "niccolo.damico"),
        ("Maria Grazia", "De Luca", "mariagrazia.deluca"),
        ("José", "Ñúñez", "jose.nunez"),
        ("Anna", "Müller", "anna.muller"),
        ("Hans", "Straße", "hans.strasse"),
        ("Anne-Marie", "Dell\u2019Acqua", "annemarie.dellacqua"),
    ],
)
def test_d_acc_2_the_username_is_lower_case_ascii_without_accents_apostrophes_or_spaces(
    first: str, last: str, expected: str
) -> None:
    assert username_base(first, last) == expected


def test_a_name_with_no_latin_letter_still_gets_a_username() -> None:
    assert username_part("李") == "utente"


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    all_metadata().create_all(database.engine)
    yield database
    database.dispose()


def _account(username: str | None, codice_fiscale: str) -> Account:
    return Account(
        id=uuid.uuid4(),
        username=username,
        kind="ordinary",
        state="awaiting_confirmation",
        roles=[],
        codice_fiscale=codice_fiscale,
        first_name="Mario",
        last_name="Rossi",
        language="it",
        credentials_version=1,
        failed_logins=0,
        created_at=datetime.now(UTC),
    )


def test_d_acc_2_collisions_get_the_first_free_numeric_suffix(database: Database) -> None:
    with database.transaction() as session:
        session.add_all([_account("mario.rossi", "A" * 16), _account("mario.rossi2", "B" * 16)])

    with database.transaction() as session:
        assert next_free_username(session, "mario.rossi") == "mario.rossi1"
        assert next_free_username(session, "mario.bianchi") == "mario.bianchi"


def test_d_acc_2_a_username_taken_between_look_and_write_is_retried_with_the_next(database: Database) -> None:
    with database.transaction() as session:
        session.add(_account("mario.rossi", "A" * 16))
        waiting = _account(None, "B" * 16)
        session.add(waiting)

    with database.transaction() as session:
        account = session.get_one(Account, waiting.id)
        # Simulate the race: the first look finds a name free that the unique constraint then refuses.
        import iam.accounts.service as accounts

        real = accounts.next_free_username
        answers = iter(["mario.rossi", None])

        def stale_then_real(session_: object, base: str) -> str:
            stale = next(answers)
            return stale if stale is not None else real(session_, base)  # type: ignore[arg-type]

        accounts.next_free_username = stale_then_real  # type: ignore[assignment]
        try:
            username = assign_username(session, account=account)
        finally:
            accounts.next_free_username = real

    assert username == "mario.rossi1"
