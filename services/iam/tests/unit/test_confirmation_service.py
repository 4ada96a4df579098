"""Requesting and confirming email confirmations: record and event together or not at all (D-ACC-3)."""

import json
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from iam.confirmations import service
from iam.confirmations.models import EmailConfirmation
from iam.errors import InvalidConfirmationToken
from iam.models import all_metadata, outbox
from polis.db import Database
from polis.events.contracts import ContractViolation
from polis.events.sealing import DEV_KEY_ID, DEV_PRIVATE_KEY, DEV_PUBLIC_KEY, Opener, Sealer
from sqlalchemy import func, select


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    all_metadata().create_all(database.engine)
    yield database
    database.dispose()


def policy(ttl: timedelta = timedelta(hours=24)) -> service.ConfirmationPolicy:
    return service.ConfirmationPolicy(
        public_base_url="http://portal.test", ttl=ttl, sealer=Sealer(DEV_PUBLIC_KEY, DEV_KEY_ID)
    )


def counts(database: Database) -> tuple[int, int]:
    with database.transaction() as session:
        confirmations = session.scalar(select(func.count()).select_from(EmailConfirmation))
        events = session.scalar(select(func.count()).select_from(outbox))
    return confirmations, events


def outbox_events(database: Database) -> list[dict]:
    with database.transaction() as session:
        return [json.loads(payload) for payload in session.scalars(select(outbox.c.payload))]


def token_from(event: dict) -> str:
    link = Opener({DEV_KEY_ID: DEV_PRIVATE_KEY}).open(event["data"]["confirmation_url"])
    return parse_qs(urlsplit(link).query)["token"][0]


def request(database: Database, ttl: timedelta = timedelta(hours=24)) -> EmailConfirmation:
    return service.request_confirmation(
        db=database, policy=policy(ttl), email="mario.rossi@example.it", language="it"
    )


def test_a_request_writes_the_record_and_exactly_one_outbox_event(database: Database) -> None:
    confirmation = request(database)

    assert counts(database) == (1, 1)
    [event] = outbox_events(database)
    assert event["type"] == "iam.email_confirmation_requested"
    assert event["producer"] == "iam"
    assert event["data"]["confirmation_id"] == str(confirmation.id)
    assert event["data"]["email"] == "mario.rossi@example.it"
    assert confirmation.status == "pending"


def test_the_link_travels_sealed_and_only_its_hash_is_stored(database: Database) -> None:
    request(database)
    [event] = outbox_events(database)

    token = token_from(event)
    assert token not in json.dumps(event)
    assert event["data"]["confirmation_url"].startswith(f"sealed:v1:{DEV_KEY_ID}:")
    with database.transaction() as session:
        stored = session.scalars(select(EmailConfirmation)).one()
    assert stored.token_hash == service.hash_token(token)


def test_an_event_that_breaks_its_contract_writes_neither_record_nor_event(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A link that was not sealed must never reach the outbox: the contract requires the sealed form.
    monkeypatch.setattr(Sealer, "seal", lambda _self, clear: clear)

    with pytest.raises(ContractViolation) as violation:
        request(database)

    assert violation.value.path == "data.confirmation_url"
    assert counts(database) == (0, 0)


def test_a_token_confirms_the_address_once_only(database: Database) -> None:
    confirmation = request(database)
    token = token_from(outbox_events(database)[0])

    confirmed = service.confirm(db=database, token=token)

    assert confirmed.id == confirmation.id
    assert confirmed.status == "confirmed"
    with pytest.raises(InvalidConfirmationToken) as second_use:
        service.confirm(db=database, token=token)
    with pytest.raises(InvalidConfirmationToken) as unknown:
        service.confirm(db=database, token="not-a-token")
    # The same answer for used and unknown tokens: nobody learns which tokens exist.
    assert second_use.value.to_dict() == unknown.value.to_dict()


def test_an_expired_token_is_refused(database: Database) -> None:
    request(database, ttl=timedelta(seconds=-1))

    with pytest.raises(InvalidConfirmationToken):
        service.confirm(db=database, token=token_from(outbox_events(database)[0]))
