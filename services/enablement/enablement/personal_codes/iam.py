"""The two questions enablement asks IAM over RPC (issue 14 item 1): only yes/no travels back.

`iam.check_password` (D-ENA-9: the personal code is never the password) and `iam.check_security_answer`
(D-ENA-5: recovery). The client is one per process (polis.rpc.RpcClient), made lazily on the first call.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any, Protocol

from polis.rpc import RpcClient


class IamQuestions(Protocol):
    def password_matches(self, *, account_id: uuid.UUID, password: str) -> bool: ...

    def security_answer_matches(self, *, account_id: uuid.UUID, answer: str) -> bool: ...


class RpcIamQuestions:
    """IamQuestions over polis.rpc; an absent responder or a timeout is a 503 (RpcUnavailable)."""

    def __init__(self, broker_url: str, *, timeout: float) -> None:
        self._broker_url = broker_url
        self._timeout = timeout
        self._client: RpcClient | None = None
        self._lock = threading.Lock()

    def _call(self, method: str, payload: dict[str, Any]) -> dict[str, Any]:
        with self._lock:  # made on the first call, never at import (a web process forks after import)
            if self._client is None:
                self._client = RpcClient(self._broker_url, timeout=self._timeout)
        # RpcUnavailable (no answer in time) is a ServiceUnavailable: the API answers 503, the pages say so.
        answer: dict[str, Any] = self._client.call(method, payload)
        return answer

    def password_matches(self, *, account_id: uuid.UUID, password: str) -> bool:
        reply = self._call("iam.check_password", {"account_id": str(account_id), "password": password})
        return bool(reply["matches"])

    def security_answer_matches(self, *, account_id: uuid.UUID, answer: str) -> bool:
        reply = self._call("iam.check_security_answer", {"account_id": str(account_id), "answer": answer})
        return bool(reply["matches"])
