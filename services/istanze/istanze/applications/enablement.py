"""The personal-code check asked of enablement over polis.rpc (enablement.check_personal_code)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Mapping
from typing import Any

from polis.rpc import RpcClient


class RpcCodeChecker:
    """A CodeChecker over polis.rpc: the code travels sealed for enablement; RpcUnavailable is a 503."""

    def __init__(self, broker_url: str, *, timeout: float) -> None:
        self._broker_url, self._timeout = broker_url, timeout
        self._client: RpcClient | None = None
        self._lock = threading.Lock()

    def __call__(self, account_id: uuid.UUID, personal_code: str) -> Mapping[str, Any]:
        with self._lock:  # made on the first call, never at import (gunicorn forks after import)
            if self._client is None:
                self._client = RpcClient(self._broker_url, timeout=self._timeout)
        return self._client.call(
            "enablement.check_personal_code", {"account_id": str(account_id), "personal_code": personal_code}
        )
