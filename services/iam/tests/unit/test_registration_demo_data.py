"""The demo-data loader (make run): demo accounts with their known passwords, idempotent."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from iam.accounts.models import Account
from iam.demo import DEMO_ACCOUNTS, load_demo_data
from iam.models import all_metadata
from iam.passwords.hashing import verify_secret
from polis.db import Database
from sqlalchemy import select


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    all_metadata().create_all(database.engine)
    yield database
    database.dispose()


def test_demo_accounts_are_active_with_their_listed_passwords_and_loading_twice_adds_nothing(
    database: Database,
) -> None:
    first = load_demo_data(database)
    second = load_demo_data(database)

    with database.transaction() as session:
        found = {account.username: account for account in session.scalars(select(Account))}
    assert first.startswith(f"{len(DEMO_ACCOUNTS)} demo accounts added")
    assert second.startswith("0 demo accounts added")
    for entry in DEMO_ACCOUNTS:
        account = found[entry.username]
        assert account.state == entry.state.value
        assert account.codice_fiscale == entry.codice_fiscale
        assert verify_secret(account.password_hash, entry.password)
