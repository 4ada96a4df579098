"""A message for an account the read model does not know: retried while it may still appear, parked at once
when IAM says it holds no such account (issue 17 item 7)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from notifier.accounts import iam
from notifier.accounts.service import UnknownAccount
from notifier.messaging.handlers import HANDLERS
from notifier.samples import message_event
from polis.db import Database
from polis.events import Unprocessable
from polis.rpc import RpcUnavailable


class FakeIam:
    """IAM's answer to iam.account_exists, or no answer at all."""

    def __init__(self, exists: bool | None) -> None:
        self.exists = exists
        self.asked: list[dict[str, Any]] = []

    def call(self, method: str, payload: dict[str, Any], *, timeout: float | None = None) -> dict[str, Any]:
        self.asked.append({"method": method, **payload})
        if self.exists is None:
            raise RpcUnavailable(method, "no responder")
        return {"exists": self.exists}


@pytest.fixture
def answering() -> Iterator[Any]:
    def configure(exists: bool | None) -> FakeIam:
        fake = FakeIam(exists)
        iam.configure(fake)  # type: ignore[arg-type]
        return fake

    yield configure
    iam.configure(None)


def handle(database: Database, account_id: str) -> None:
    event = message_event("iam.password_changed", account_id)
    with database.transaction() as session:
        HANDLERS[event.type](session, event)


def test_an_account_iam_does_not_hold_is_unprocessable_at_once(database: Database, answering: Any) -> None:
    fake = answering(False)
    account_id = str(uuid.uuid4())

    with pytest.raises(Unprocessable, match=f"account {account_id} does not exist in IAM"):
        handle(database, account_id)
    assert fake.asked == [{"method": "iam.account_exists", "account_id": account_id}]


@pytest.mark.parametrize("exists", [True, None], ids=["iam-holds-it", "iam-unreachable"])
def test_an_account_that_may_still_appear_is_retried(
    database: Database, answering: Any, exists: bool | None
) -> None:
    answering(exists)

    with pytest.raises(UnknownAccount):
        handle(database, str(uuid.uuid4()))


def test_without_an_rpc_client_every_unknown_account_is_retried(database: Database) -> None:
    with pytest.raises(UnknownAccount):
        handle(database, str(uuid.uuid4()))
