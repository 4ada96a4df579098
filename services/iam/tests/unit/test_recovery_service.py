"""Username reminder (D-ACC-5) and temporary passwords (D-ACC-6, D-ACC-2) at the service level."""

from __future__ import annotations

import contextlib
import string
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from iam.accounts import temporary_passwords as temporary
from iam.accounts.models import AccountKind, AccountState, TemporaryPassword
from iam.captcha import adapters
from iam.models import all_metadata
from iam.passwords.hashing import verify_secret
from iam.recovery import service
from iam_recovery_support import (
    CF_GIULIA,
    CF_MARIO,
    ORIGIN,
    PASSWORD,
    audit_actions,
    audit_entries,
    captcha,
    events,
    load_account,
    make_account,
    unseal,
)
from polis.db import Database
from polis.errors import ValidationFailed
from polis.events import contracts
from polis.events.sealing import DEV_KEY_ID, DEV_PUBLIC_KEY, Sealer
from sqlalchemy import event, select


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    all_metadata().create_all(database.engine)
    yield database
    database.dispose()


ADAPTER = adapters.TestAdapter(ttl=timedelta(minutes=10))


def policy(ttl: timedelta = timedelta(minutes=30), max_outstanding: int = 3) -> service.RecoveryPolicy:
    return service.RecoveryPolicy(
        temporary_password_ttl=ttl, max_outstanding=max_outstanding, sealer=Sealer(DEV_PUBLIC_KEY, DEV_KEY_ID)
    )


def ask_username(database: Database, codice_fiscale: str) -> None:
    service.request_username_reminder(
        db=database, captcha=ADAPTER, captcha_response=captcha(), codice_fiscale=codice_fiscale, origin=ORIGIN
    )


def ask_password(
    database: Database, username: str, codice_fiscale: str, recovery: service.RecoveryPolicy | None = None
) -> None:
    service.request_temporary_password(
        db=database,
        policy=recovery or policy(),
        captcha=ADAPTER,
        captcha_response=captcha(),
        username=username,
        codice_fiscale=codice_fiscale,
        origin=ORIGIN,
    )


def temporary_rows(database: Database) -> list[TemporaryPassword]:
    with database.transaction() as session:
        rows = list(session.scalars(select(TemporaryPassword)))
        for row in rows:
            session.expunge(row)
    return rows


# --- D-ACC-5 ---------------------------------------------------------------------------------------------


def test_d_acc_5_a_known_codice_fiscale_emits_the_username_reminder_for_the_account(
    database: Database,
) -> None:
    account = make_account(database)

    ask_username(database, CF_MARIO.lower())

    [reminder] = events(database, "iam.username_reminder_requested")
    # The notifier sends it to every address of the account (D-ACC-8): the event names the account only.
    assert reminder["data"]["account_id"] == str(account.id)
    assert "email" not in reminder["data"]
    [entry] = audit_entries(database, "recovery.username_requested")
    assert (entry.account_id, entry.source_address, entry.user_agent, entry.request_id) == (
        account.id,
        "203.0.113.7",
        "pytest",
        "req-test",
    )


def test_d_acc_5_an_unknown_codice_fiscale_emits_nothing_but_is_audited(database: Database) -> None:
    make_account(database)

    ask_username(database, CF_GIULIA)

    assert events(database) == []
    assert audit_actions(database) == ["recovery.username_requested"]


def test_d_acc_5_revoked_accounts_get_no_reminder(database: Database) -> None:
    make_account(database, state=AccountState.REVOKED.value)

    ask_username(database, CF_MARIO)

    assert events(database) == []


def test_d_acc_5_a_failed_captcha_is_refused_before_any_lookup(database: Database) -> None:
    make_account(database)

    with pytest.raises(ValidationFailed) as failed:
        service.request_username_reminder(
            db=database, captcha=ADAPTER, captcha_response="wrong", codice_fiscale=CF_MARIO, origin=ORIGIN
        )

    assert failed.value.fields == {"captcha": ["captcha_failed"]}
    assert events(database) == [] and audit_actions(database) == []


# --- D-ACC-6 ---------------------------------------------------------------------------------------------


def test_d_acc_6_a_matching_pair_issues_a_sealed_random_temporary_password(database: Database) -> None:
    account = make_account(database)

    ask_password(database, "Mario.Rossi", CF_MARIO)

    [issued] = events(database, "iam.temporary_password_issued")
    assert issued["data"]["account_id"] == str(account.id)
    assert issued["data"]["issued_by"] == "self_service"
    password = unseal(issued["data"]["temporary_password"])
    assert len(password) >= 12
    assert set(password) <= set(string.ascii_letters + string.digits)
    [row] = temporary_rows(database)
    # Only its digest is stored (issue 11 item 2: found at login without an argon2 run); it expires after
    # the configured time.
    assert row.password_hash == temporary.digest(password) and password not in row.password_hash
    expires = row.expires_at.replace(tzinfo=UTC) if row.expires_at.tzinfo is None else row.expires_at
    assert timedelta(minutes=29) < expires - datetime.now(UTC) <= timedelta(minutes=30)
    assert "recovery.temporary_password_issued" in audit_actions(database)


def test_d_acc_6_temporary_passwords_differ_every_time() -> None:
    passwords = {temporary.generate() for _ in range(200)}

    assert len(passwords) == 200
    assert all(len(p) == temporary.LENGTH >= 12 and set(p) <= set(temporary.ALPHABET) for p in passwords)


def test_d_acc_6_asking_changes_nothing_about_the_account(database: Database) -> None:
    before = make_account(database)

    ask_password(database, "mario.rossi", CF_MARIO)

    after = load_account(database, before.id)
    assert (after.state, after.password_hash, after.credentials_version, after.failed_logins) == (
        before.state,
        before.password_hash,
        before.credentials_version,
        before.failed_logins,
    )
    assert verify_secret(after.password_hash, PASSWORD)  # the old password keeps working


@pytest.mark.parametrize(
    ("username", "codice_fiscale"),
    [("mario.rossi", CF_GIULIA), ("luigi.verdi", CF_MARIO), ("nobody", CF_GIULIA)],
)
def test_d_acc_6_a_pair_that_does_not_match_issues_nothing(
    database: Database, username: str, codice_fiscale: str
) -> None:
    make_account(database)

    ask_password(database, username, codice_fiscale)  # no error: the same answer as a match

    assert events(database) == [] and temporary_rows(database) == []
    assert audit_actions(database) == ["recovery.password_requested"]


def test_d_acc_6_is_single_use_and_expires(database: Database) -> None:
    account = make_account(database)
    ask_password(database, "mario.rossi", CF_MARIO)
    password = unseal(events(database, "iam.temporary_password_issued")[0]["data"]["temporary_password"])

    with database.transaction() as session:
        assert not temporary.redeem(session, account_id=account.id, password="not-it-at-all")
        assert temporary.redeem(session, account_id=account.id, password=password)
    with database.transaction() as session:
        assert not temporary.redeem(session, account_id=account.id, password=password)  # used once

    ask_password(database, "mario.rossi", CF_MARIO)
    second = unseal(events(database, "iam.temporary_password_issued")[1]["data"]["temporary_password"])
    later = datetime.now(UTC) + timedelta(minutes=31)
    with database.transaction() as session:
        assert not temporary.redeem(session, account_id=account.id, password=second, now=later)  # expired


def test_d_acc_6_a_temporary_password_is_remembered_so_it_never_becomes_the_long_term_one(
    database: Database,
) -> None:
    account = make_account(database)
    ask_password(database, "mario.rossi", CF_MARIO)
    password = unseal(events(database, "iam.temporary_password_issued")[0]["data"]["temporary_password"])

    with database.transaction() as session:
        assert temporary.was_issued(session, account_id=account.id, password=password)
        assert not temporary.was_issued(session, account_id=account.id, password=PASSWORD)


def test_d_acc_6_outstanding_temporary_passwords_are_capped_per_account(database: Database) -> None:
    make_account(database)

    for _ in range(4):
        ask_password(database, "mario.rossi", CF_MARIO, policy(max_outstanding=2))

    assert len(temporary_rows(database)) == 2
    assert len(events(database, "iam.temporary_password_issued")) == 2
    assert audit_actions(database).count("recovery.password_capped") == 2


def test_d_acc_2_d_acc_6_an_mi_account_is_refused_with_guidance_only_when_the_pair_matches(
    database: Database,
) -> None:
    make_account(database, kind=AccountKind.MI.value, institutional_email="mario.rossi@istruzione.it")

    with pytest.raises(service.InstitutionalAccountRefused) as refused:
        ask_password(database, "mario.rossi", CF_MARIO)
    assert "SIDI" in refused.value.message and "security officer" in refused.value.message
    ask_password(database, "mario.rossi1", CF_MARIO)  # not the pair: the uniform answer, no refusal

    assert temporary_rows(database) == [] and events(database) == []
    assert audit_actions(database) == [
        "recovery.password_refused_institutional",
        "recovery.password_requested",
    ]


# --- equal work on every path (D-ACC-5, D-ACC-6: the response time tells nothing) ---------------------------


class Work:
    """Counts what costs time: digests, sealings, event validations, SQL statements by kind."""

    def __init__(self, database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
        self.counts: dict[str, int] = {}
        real_digest = temporary.digest
        real_seal = Sealer.seal

        def counting_digest(secret: str) -> str:
            self.bump("digest")
            return real_digest(secret)

        def counting_seal(sealer: Sealer, plaintext: str) -> str:
            self.bump("seal")
            return real_seal(sealer, plaintext)

        real_validate = contracts.validate

        def counting_validate(event_to_check: Any) -> None:
            self.bump("validate")
            real_validate(event_to_check)

        monkeypatch.setattr(temporary, "digest", counting_digest)
        monkeypatch.setattr(Sealer, "seal", counting_seal)
        monkeypatch.setattr(contracts, "validate", counting_validate)
        event.listen(database.engine, "before_cursor_execute", self.on_statement)

    def bump(self, name: str) -> None:
        self.counts[name] = self.counts.get(name, 0) + 1

    def on_statement(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.bump(statement.lstrip().split()[0].upper())

    def measure(self, action: Any) -> dict[str, int]:
        self.counts = {}
        with contextlib.suppress(service.InstitutionalAccountRefused):
            action()
        return {
            name: count
            for name, count in self.counts.items()
            if name in ("digest", "seal", "validate", "SELECT", "INSERT", "UPDATE", "SAVEPOINT")
        }


def test_d_acc_6_every_path_does_the_same_expensive_work(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_account(database)
    make_account(
        database,
        username="giulia.bianchi",
        codice_fiscale=CF_GIULIA,
        first_name="Giulia",
        last_name="Bianchi",
        kind=AccountKind.MI.value,
    )
    work = Work(database, monkeypatch)
    rounds = {
        "match": lambda: ask_password(database, "mario.rossi", CF_MARIO),
        "unknown codice fiscale": lambda: ask_password(database, "mario.rossi", "RSSMRA80A01H501X"),
        "wrong username": lambda: ask_password(database, "someone.else", CF_MARIO),
        "mi account": lambda: ask_password(database, "giulia.bianchi", CF_GIULIA),
        "capped": lambda: ask_password(database, "mario.rossi", CF_MARIO, policy(max_outstanding=1)),
    }

    measured = {name: work.measure(action) for name, action in rounds.items()}

    # One digest, one sealing, one event validated and inserted (then rolled back when nothing is
    # issued) and the same reads on every path; only the temporary password's own row is extra on a match.
    issued = measured.pop("match")
    expected = {"digest": 1, "seal": 1, "UPDATE": 1, "validate": 1, "SELECT": 2, "SAVEPOINT": 2, "INSERT": 3}
    assert all(counts == expected for counts in measured.values()), measured
    assert issued == {**expected, "INSERT": 4}


def test_d_acc_5_both_paths_run_the_same_reads(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    make_account(database)
    work = Work(database, monkeypatch)

    known = work.measure(lambda: ask_username(database, CF_MARIO))
    unknown = work.measure(lambda: ask_username(database, CF_GIULIA))

    assert known == unknown, (known, unknown)
    assert known["validate"] == 1 and known["INSERT"] == 3  # captcha solution, audit entry, event
