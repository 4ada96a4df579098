"""MI accounts (D-ACC-2): the all-or-nothing, idempotent import and the security officer's audited reset."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from iam.accounts.models import Account, AccountKind, AccountState, TemporaryPassword
from iam.institutional import service
from iam.models import all_metadata
from iam.recovery.service import RecoveryPolicy
from iam_recovery_support import (
    CF_ANNA,
    CF_GIULIA,
    CF_LUCIA,
    CF_MARIO,
    ORIGIN,
    audit_entries,
    events,
    load_account,
    make_account,
    unseal,
)
from polis.db import Database
from polis.errors import Forbidden, NotFound
from polis.events.sealing import DEV_KEY_ID, DEV_PUBLIC_KEY, Sealer
from sqlalchemy import select

HEADER = "codice_fiscale,first_name,last_name,institutional_email\n"
GOOD = (
    HEADER
    + f"{CF_GIULIA},Giulia,Bianchi,giulia.bianchi@istruzione.it\n"
    + f"{CF_ANNA},Anna,Verdi,anna.verdi@istruzione.it\n"
    + f"{CF_LUCIA},Lucia,D'Angelo,lucia.dangelo@istruzione.it\n"
)


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    all_metadata().create_all(database.engine)
    yield database
    database.dispose()


def run_import(database: Database, text: str) -> service.ImportResult:
    return service.import_mi_accounts(
        db=database, rows=service.parse_csv(text), actor="ops:token", origin=ORIGIN
    )


def mi_accounts(database: Database) -> list[Account]:
    with database.transaction() as session:
        rows = list(session.scalars(select(Account).where(Account.kind == "mi").order_by(Account.username)))
        for row in rows:
            session.expunge(row)
    return rows


def test_d_acc_2_the_import_creates_mi_accounts_without_a_password(database: Database) -> None:
    result = run_import(database, GOOD)

    assert sorted(result.created) == ["anna.verdi", "giulia.bianchi", "lucia.dangelo"]
    accounts = mi_accounts(database)
    assert {(a.kind, a.state, a.password_hash) for a in accounts} == {("mi", "active", None)}
    assert {a.institutional_email for a in accounts} == {
        "giulia.bianchi@istruzione.it",
        "anna.verdi@istruzione.it",
        "lucia.dangelo@istruzione.it",
    }
    registered = events(database, "iam.account_registered")
    assert len(registered) == 3 and {e["data"]["kind"] for e in registered} == {"mi"}
    assert [e.actor for e in audit_entries(database, "mi_import.completed")] == ["ops:token"]


def test_d_acc_2_importing_the_same_file_again_changes_and_emits_nothing(database: Database) -> None:
    run_import(database, GOOD)
    before = len(events(database))

    again = run_import(database, GOOD)

    assert (again.created, again.updated, again.unchanged) == ([], [], 3)
    assert len(events(database)) == before
    assert len(mi_accounts(database)) == 3


def test_d_acc_2_a_changed_row_updates_the_account_and_emits_its_facts(database: Database) -> None:
    run_import(database, GOOD)

    result = run_import(database, HEADER + f"{CF_GIULIA},Giulia,Bianchi,g.bianchi@istruzione.it\n")

    assert result.updated == ["giulia.bianchi"]
    [email_set] = events(database, "iam.institutional_email_set")
    assert email_set["data"]["institutional_email"] == "g.bianchi@istruzione.it"


def test_d_acc_2_a_username_collision_gets_a_numeric_suffix(database: Database) -> None:
    make_account(database, username="giulia.bianchi", codice_fiscale=CF_MARIO)

    result = run_import(database, GOOD)

    assert "giulia.bianchi1" in result.created


def test_d_acc_2_a_bad_file_is_rejected_whole_with_line_numbers(database: Database) -> None:
    bad = (
        HEADER
        + f"{CF_GIULIA},Giulia,Bianchi,giulia.bianchi@istruzione.it\n"  # line 2: fine
        + "RSSMRA80A01H501X,Mario,Rossi,mario.rossi@istruzione.it\n"  # 3: checksum
        + f"{CF_ANNA},Anna,Verdi,anna.verdi@gmail.com\n"  # 4: not institutional
        + f"{CF_LUCIA},Paola,D'Angelo,lucia@istruzione.it\n"  # 5: names disagree with the codice fiscale
        + f"{CF_GIULIA},Giulia,Bianchi,giulia.bianchi@istruzione.it\n"  # 6: duplicate of line 2
        + f"{CF_MARIO},Mario\n"  # 7: missing columns
    )

    with pytest.raises(service.ImportRejected) as rejected:
        run_import(database, bad)

    assert [(e["line"], e["field"], e["error"]) for e in rejected.value.errors] == [
        (3, "codice_fiscale", "invalid_codice_fiscale"),
        (4, "institutional_email", "not_institutional"),
        (5, "codice_fiscale", "names_disagree"),
        (6, "codice_fiscale", "duplicate_of_line_2"),
        (7, "row", "wrong_column_count"),
    ]
    assert mi_accounts(database) == [] and events(database) == []


@pytest.mark.parametrize("text", ["", "cf,nome\nX,Y\n", HEADER])
def test_d_acc_2_a_file_without_the_header_or_rows_is_rejected(database: Database, text: str) -> None:
    with pytest.raises(service.ImportRejected):
        run_import(database, text)


def test_d_acc_2_a_codice_fiscale_with_an_ordinary_account_rejects_the_file(database: Database) -> None:
    make_account(database, username="giulia.bianchi", codice_fiscale=CF_GIULIA)

    with pytest.raises(service.ImportRejected) as rejected:
        run_import(database, GOOD)

    assert rejected.value.errors == [
        {"line": 2, "field": "codice_fiscale", "error": "ordinary_account_exists"}
    ]
    assert mi_accounts(database) == []


# --- the security officer ----------------------------------------------------------------------------------


def recovery_policy() -> RecoveryPolicy:
    return RecoveryPolicy(
        temporary_password_ttl=timedelta(minutes=30),
        max_outstanding=3,
        sealer=Sealer(DEV_PUBLIC_KEY, DEV_KEY_ID),
    )


def test_d_acc_2_a_security_officer_resets_an_mi_password_and_it_is_audited(database: Database) -> None:
    officer = make_account(database, roles=["security_officer"])
    run_import(database, GOOD)
    [target] = service.search_mi_accounts(db=database, officer_id=officer.id, query=CF_GIULIA.lower())
    assert (
        service.search_mi_accounts(db=database, officer_id=officer.id, query="giulia.bianchi")[0].id
        == target.id
    )

    service.reset_mi_password(
        db=database, policy=recovery_policy(), officer_id=officer.id, account_id=target.id, origin=ORIGIN
    )

    [issued] = events(database, "iam.temporary_password_issued")
    assert issued["data"]["issued_by"] == "security_officer"
    assert issued["data"]["account_id"] == str(target.id)
    assert len(unseal(issued["data"]["temporary_password"])) >= 12
    [entry] = audit_entries(database, "mi_password.reset")
    assert (entry.actor, entry.account_id, entry.source_address) == (
        f"account:{officer.id}",
        target.id,
        "203.0.113.7",
    )
    assert load_account(database, target.id).state == AccountState.ACTIVE.value  # nothing else changes


def test_d_acc_2_only_a_security_officer_may_reset(database: Database) -> None:
    ordinary = make_account(database)
    run_import(database, GOOD)
    target = mi_accounts(database)[0]

    with pytest.raises(Forbidden):
        service.reset_mi_password(
            db=database, policy=recovery_policy(), officer_id=ordinary.id, account_id=target.id, origin=ORIGIN
        )
    with pytest.raises(Forbidden):
        service.search_mi_accounts(db=database, officer_id=ordinary.id, query=CF_GIULIA)
    with database.transaction() as session:
        assert session.scalars(select(TemporaryPassword)).all() == []


def test_d_acc_2_the_officer_resets_mi_accounts_only(database: Database) -> None:
    officer = make_account(database, roles=["security_officer"])
    ordinary = make_account(
        database, username="anna.verdi", codice_fiscale=CF_ANNA, kind=AccountKind.ORDINARY.value
    )

    for account_id in (ordinary.id, uuid.uuid4()):
        with pytest.raises(NotFound):
            service.reset_mi_password(
                db=database,
                policy=recovery_policy(),
                officer_id=officer.id,
                account_id=account_id,
                origin=ORIGIN,
            )
