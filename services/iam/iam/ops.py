"""The ops API guard: `/api/iam/v1/ops/...` requires `Authorization: Bearer <IAM_OPS_TOKEN>`.

A shared static token until issue 5 brings JWT verification; compared in constant time so that the
answer's timing tells nothing about how much of a guess was right. Every area's ops view uses this one
decorator: `from iam.ops import ops_required`.
"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app, g, request
from polis.config import Secret
from polis.errors import Unauthorized

F = TypeVar("F", bound=Callable[..., Any])

SETTING = "OPS_TOKEN"
# Who the audit trail names for an ops call until ops tokens carry an identity (issue 5).
OPS_ACTOR = "ops:token"


class OpsTokenRequired(Unauthorized):
    code = "ops_token_required"
    message = "This operation requires the ops token (Authorization: Bearer <token>)."


def _presented_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def token_matches(expected: Secret | str | None, presented: str | None) -> bool:
    """Constant-time comparison of the presented token with the configured one; no token never matches."""
    if presented is None or expected is None:
        return False
    value = expected.reveal() if isinstance(expected, Secret) else expected
    if not value:
        return False
    return hmac.compare_digest(value.encode(), presented.encode())


def ops_required(view: F) -> F:
    """Refuse the view with 401 (one error shape) unless the request carries the ops token."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not token_matches(current_app.config.get(SETTING), _presented_token()):
            raise OpsTokenRequired()
        g.ops_actor = OPS_ACTOR
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def ops_actor() -> str:
    """The actor name of the current ops call, for the audit trail."""
    return str(g.get("ops_actor", OPS_ACTOR))
