"""Area Riservata at the service level: email by verified link, password change, language (D-ACC-7/8)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from iam.accounts import temporary_passwords as temporary
from iam.accounts.models import AccountKind
from iam.models import all_metadata
from iam.passwords.hashing import verify_secret
from iam.personal_area import service
from iam_recovery_support import (
    ORIGIN,
    PASSWORD,
    audit_actions,
    audit_entries,
    events,
    load_account,
    make_account,
    unseal,
)
from polis.db import Database
from polis.errors import ValidationFailed
from polis.events.sealing import DEV_KEY_ID, DEV_PUBLIC_KEY, Sealer

NEW_PASSWORD = "girasole-fiume-quaderno-lento"


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    all_metadata().create_all(database.engine)
    yield database
    database.dispose()


def policy(ttl: timedelta = timedelta(hours=24)) -> service.PersonalAreaPolicy:
    return service.PersonalAreaPolicy(
        public_base_url="http://portal.test", verification_ttl=ttl, sealer=Sealer(DEV_PUBLIC_KEY, DEV_KEY_ID)
    )


def token_of(database: Database, index: int = -1) -> str:
    link = unseal(events(database, "iam.email_verification_requested")[index]["data"]["verification_url"])
    assert link.startswith("http://portal.test/iam/area-riservata/email/verifica/")
    return link.rsplit("/", 1)[1]


def test_d_acc_7_a_new_personal_email_takes_effect_only_after_its_link(database: Database) -> None:
    account = make_account(database)

    service.request_email_change(
        db=database, policy=policy(), account_id=account.id, email="mario@nuovo.example", origin=ORIGIN
    )

    [requested] = events(database, "iam.email_verification_requested")
    assert requested["data"]["email"] == "mario@nuovo.example"  # the link goes to the new address only
    assert load_account(database, account.id).personal_email == "mario.rossi@example.it"
    assert events(database, "iam.personal_email_changed") == []

    changed = service.verify_email_change(db=database, token=token_of(database), origin=ORIGIN)

    assert changed.personal_email == "mario@nuovo.example"
    assert load_account(database, account.id).personal_email == "mario@nuovo.example"
    [fact] = events(database, "iam.personal_email_changed")
    assert fact["data"] == {"account_id": str(account.id), "personal_email": "mario@nuovo.example"}
    assert audit_actions(database) == ["personal_email.change_requested", "personal_email.changed"]


def test_issue_13_the_previous_personal_email_is_told_when_the_new_one_takes_effect(
    database: Database,
) -> None:
    account = make_account(database)
    service.request_email_change(
        db=database, policy=policy(), account_id=account.id, email="mario@nuovo.example", origin=ORIGIN
    )
    assert events(database, "iam.personal_email_replaced") == []  # nothing before the link is used

    service.verify_email_change(db=database, token=token_of(database), origin=ORIGIN)

    [notice] = events(database, "iam.personal_email_replaced")
    assert notice["data"]["email"] == "mario.rossi@example.it"  # the previous address, never the new one
    assert notice["data"]["account_id"] == str(account.id) and notice["data"]["changed_at"]


def test_issue_13_a_first_personal_email_has_no_previous_address_to_tell(database: Database) -> None:
    account = make_account(database, personal_email=None, institutional_email="mario.rossi@istruzione.it")
    service.request_email_change(
        db=database, policy=policy(), account_id=account.id, email="mario@nuovo.example", origin=ORIGIN
    )

    service.verify_email_change(db=database, token=token_of(database), origin=ORIGIN)

    assert events(database, "iam.personal_email_replaced") == []


def test_d_acc_7_a_verification_link_works_once_and_not_after_expiry(database: Database) -> None:
    account = make_account(database)
    service.request_email_change(
        db=database, policy=policy(), account_id=account.id, email="a@nuovo.example", origin=ORIGIN
    )
    token = token_of(database)
    service.verify_email_change(db=database, token=token, origin=ORIGIN)

    with pytest.raises(service.InvalidVerificationLink):
        service.verify_email_change(db=database, token=token, origin=ORIGIN)

    service.request_email_change(
        db=database,
        policy=policy(ttl=timedelta(seconds=-1)),
        account_id=account.id,
        email="b@nuovo.example",
        origin=ORIGIN,
    )
    with pytest.raises(service.InvalidVerificationLink):
        service.verify_email_change(db=database, token=token_of(database), origin=ORIGIN)
    assert load_account(database, account.id).personal_email == "a@nuovo.example"


def test_d_acc_7_a_newer_request_supersedes_the_older_link(database: Database) -> None:
    account = make_account(database)
    for email in ("first@nuovo.example", "second@nuovo.example"):
        service.request_email_change(
            db=database, policy=policy(), account_id=account.id, email=email, origin=ORIGIN
        )

    with pytest.raises(service.InvalidVerificationLink):
        service.verify_email_change(db=database, token=token_of(database, 0), origin=ORIGIN)
    service.verify_email_change(db=database, token=token_of(database, 1), origin=ORIGIN)

    assert load_account(database, account.id).personal_email == "second@nuovo.example"


@pytest.mark.parametrize(
    ("email", "problem"),
    [("x@istruzione.it", "institutional_address"), ("MARIO.ROSSI@example.it", "unchanged")],
)
def test_d_acc_7_an_institutional_or_unchanged_address_is_refused(
    database: Database, email: str, problem: str
) -> None:
    account = make_account(database)

    with pytest.raises(ValidationFailed) as failed:
        service.request_email_change(
            db=database, policy=policy(), account_id=account.id, email=email, origin=ORIGIN
        )

    assert failed.value.fields == {"email": [problem]}
    assert events(database) == []


def test_d_acc_7_changing_the_password_needs_the_current_one_and_ends_every_session(
    database: Database,
) -> None:
    account = make_account(database)

    with pytest.raises(ValidationFailed) as failed:
        service.change_password(
            db=database,
            policy=policy(),
            account_id=account.id,
            current_password="wrong",
            new_password=NEW_PASSWORD,
            origin=ORIGIN,
        )
    assert failed.value.fields == {"current_password": ["wrong_password"]}
    assert load_account(database, account.id).credentials_version == 1
    assert audit_actions(database) == ["password.change_failed"]

    service.change_password(
        db=database,
        policy=policy(),
        account_id=account.id,
        current_password=PASSWORD,
        new_password=NEW_PASSWORD,
        origin=ORIGIN,
    )

    after = load_account(database, account.id)
    assert after.credentials_version == 2  # every session and token at version 1 is over
    assert verify_secret(after.password_hash, NEW_PASSWORD) and not verify_secret(
        after.password_hash, PASSWORD
    )
    [notice] = events(database, "iam.password_changed")
    assert notice["data"]["account_id"] == str(account.id)
    [entry] = audit_entries(database, "password.changed")
    assert entry.account_id == account.id and entry.source_address == "203.0.113.7"


def test_d_acc_7_the_new_password_follows_the_policy(database: Database) -> None:
    account = make_account(database)

    with pytest.raises(ValidationFailed) as failed:
        service.change_password(
            db=database,
            policy=policy(),
            account_id=account.id,
            current_password=PASSWORD,
            new_password="mario.rossi",
            origin=ORIGIN,
        )

    assert failed.value.fields["new_password"]
    assert load_account(database, account.id).credentials_version == 1
    assert events(database) == []


def test_d_acc_6_a_temporary_password_is_refused_as_the_new_password(database: Database) -> None:
    account = make_account(database)
    password = temporary.generate() + "-lungo-abbastanza"
    with database.transaction() as session:
        temporary.issue(
            session,
            account_id=account.id,
            password=password,
            issued_by="self_service",
            ttl=timedelta(minutes=30),
            sealer=Sealer(DEV_PUBLIC_KEY, DEV_KEY_ID),
            action="recovery.temporary_password_issued",
            origin=ORIGIN,
            actor="anonymous",
        )

    with pytest.raises(ValidationFailed) as failed:
        service.change_password(
            db=database,
            policy=policy(),
            account_id=account.id,
            current_password=PASSWORD,
            new_password=password,
            origin=ORIGIN,
        )

    assert "temporary_password" in failed.value.fields["new_password"]


def test_d_acc_7_the_language_preference_is_published_for_the_notifier(database: Database) -> None:
    account = make_account(database, kind=AccountKind.ORDINARY.value)

    service.change_language(db=database, account_id=account.id, language="en", origin=ORIGIN)
    service.change_language(db=database, account_id=account.id, language="en", origin=ORIGIN)  # no change

    [changed] = events(database, "iam.account_profile_changed")
    assert changed["data"]["language"] == "en"
    assert load_account(database, account.id).language == "en"
