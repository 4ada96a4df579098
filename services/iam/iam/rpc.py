"""The questions IAM answers over polis.rpc: only yes or no leaves IAM, never a hash or a secret.

`iam.check_password` lets enablement refuse a personal code equal to the password (D-ENA-9);
`iam.check_security_answer` is the third check of the personal-code recovery (D-ENA-5, case-sensitive).
Both cost one argon2 verification whether or not the account exists or has a hash (uniform work).
`iam.account_exists` lets the notifier park at once a message for an account that can never appear in its
read model (IAM writes an account, in the same transaction as its first event, before any event about it).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

from polis.db import Database
from polis.rpc import RpcResponder
from polis.worker import Loop
from sqlalchemy import select

from iam.accounts.models import Account, AccountState
from iam.passwords import hashing

CHECK_PASSWORD = "iam.check_password"  # noqa: S105 - a method name
CHECK_SECURITY_ANSWER = "iam.check_security_answer"
ACCOUNT_EXISTS = "iam.account_exists"


def _matcher(db: Database, column: str, field: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def handle(payload: dict[str, Any]) -> dict[str, Any]:
        with db.transaction() as session:
            account = session.get(Account, uuid.UUID(payload["account_id"]))
            stored = (
                getattr(account, column) if account and account.state != AccountState.REVOKED.value else None
            )
        if not stored:
            hashing.verify_secret(hashing.dummy_hash(), payload[field])
            return {"matches": False}
        return {"matches": hashing.verify_secret(stored, payload[field])}

    return handle


def _account_exists(db: Database) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def handle(payload: dict[str, Any]) -> dict[str, Any]:
        with db.transaction() as session:
            found = session.scalar(select(Account.id).where(Account.id == uuid.UUID(payload["account_id"])))
        return {"exists": found is not None}

    return handle


def handlers(db: Database) -> dict[str, Callable[[dict[str, Any]], dict[str, Any]]]:
    return {
        CHECK_PASSWORD: _matcher(db, "password_hash", "password"),
        CHECK_SECURITY_ANSWER: _matcher(db, "security_answer_hash", "answer"),
        ACCOUNT_EXISTS: _account_exists(db),
    }


def responder_loop(*, db: Database, broker_url: str, concurrency: int = 2) -> Loop:
    """The worker loop answering IAM's RPC methods."""

    def run(stop: threading.Event) -> None:
        RpcResponder(broker_url, service="iam", handlers=handlers(db), concurrency=concurrency).run(stop)

    return Loop("rpc-responder", run)
