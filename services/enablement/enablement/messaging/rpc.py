"""The RPC enablement answers: `enablement.check_personal_code` (issue 14 item 8, D-ENA-9).

The handler receives the payload validated and the personal code already opened (polis.rpc); the reply
says only valid/status (and retry_after while locked): never anything about the code itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from polis.db import Database

from enablement.personal_codes import service as codes
from enablement.personal_codes.service import CodePolicy

CHECK_PERSONAL_CODE = "enablement.check_personal_code"


def check_personal_code_handler(
    *, db: Database, policy: CodePolicy
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def handle(payload: dict[str, Any]) -> dict[str, Any]:
        result = codes.check(
            db=db,
            policy=policy,
            account_id=uuid.UUID(payload["account_id"]),
            code=payload["personal_code"],
            caller="rpc",
        )
        return result.to_reply()

    return handle


def handlers(*, db: Database, policy: CodePolicy) -> dict[str, Callable[[dict[str, Any]], dict[str, Any]]]:
    return {CHECK_PERSONAL_CODE: check_personal_code_handler(db=db, policy=policy)}
