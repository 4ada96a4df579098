"""IAM's RPC answers over a real broker and database: yes or no only (D-ENA-5, D-ENA-9)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from iam import rpc
from iam.accounts.models import AccountState
from iam.models import all_metadata
from iam.passwords.hashing import hash_secret
from iam_recovery_support import PASSWORD, make_account
from polis.db import Database
from polis.rpc import RpcClient
from polis.testing.helpers import Threads, wait_until
from polis.testing.rabbitmq import RabbitMQNode

pytestmark = pytest.mark.usefixtures("rabbitmq_running")


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    all_metadata().create_all(database.engine)
    yield database
    database.dispose()


@pytest.fixture
def client(database: Database, rabbitmq: RabbitMQNode) -> Iterator[RpcClient]:
    threads = Threads()
    loop = rpc.responder_loop(db=database, broker_url=rabbitmq.url, concurrency=1)
    threads.start(lambda: loop.run(threads.stop_event))
    caller = RpcClient(rabbitmq.url, timeout=10)

    def answering() -> bool:
        try:
            caller.call(rpc.CHECK_PASSWORD, {"account_id": str(uuid.uuid4()), "password": "x"})
        except Exception:
            return False
        return True

    wait_until(answering, timeout=30, interval=0.2)
    yield caller
    caller.close()
    threads.stop()


def test_d_ena_9_iam_says_whether_a_value_is_the_accounts_password(
    database: Database, client: RpcClient
) -> None:
    account = make_account(database)
    ask = {"account_id": str(account.id)}
    assert client.call(rpc.CHECK_PASSWORD, {**ask, "password": PASSWORD}) == {"matches": True}
    assert client.call(rpc.CHECK_PASSWORD, {**ask, "password": PASSWORD + "x"}) == {"matches": False}


def test_d_ena_5_the_security_answer_is_checked_case_sensitively(
    database: Database, client: RpcClient
) -> None:
    account = make_account(
        database, security_question="Il nome del mio gatto?", security_answer_hash=hash_secret("Fuffi")
    )
    ask = {"account_id": str(account.id)}
    assert client.call(rpc.CHECK_SECURITY_ANSWER, {**ask, "answer": "Fuffi"}) == {"matches": True}
    assert client.call(rpc.CHECK_SECURITY_ANSWER, {**ask, "answer": "fuffi"}) == {"matches": False}


def test_an_unknown_or_revoked_account_never_matches(database: Database, client: RpcClient) -> None:
    revoked = make_account(database, state=AccountState.REVOKED.value)
    assert client.call(rpc.CHECK_PASSWORD, {"account_id": str(revoked.id), "password": PASSWORD}) == {
        "matches": False
    }
    unknown = {"account_id": str(uuid.uuid4()), "answer": "Fuffi"}
    assert client.call(rpc.CHECK_SECURITY_ANSWER, unknown) == {"matches": False}


def test_issue_17_iam_says_whether_it_holds_an_account_revoked_ones_included(
    database: Database, client: RpcClient
) -> None:
    active = make_account(database)
    revoked = make_account(
        database, state=AccountState.REVOKED.value, username="anna.bianchi", codice_fiscale="BNCNNA85M41F205Q"
    )

    assert client.call(rpc.ACCOUNT_EXISTS, {"account_id": str(active.id)}) == {"exists": True}
    assert client.call(rpc.ACCOUNT_EXISTS, {"account_id": str(revoked.id)}) == {"exists": True}
    assert client.call(rpc.ACCOUNT_EXISTS, {"account_id": str(uuid.uuid4())}) == {"exists": False}
