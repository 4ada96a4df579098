"""The notifier's ops endpoints need `Authorization: Bearer <NOTIFIER_OPS_TOKEN>` (JWTs come with issue 5)."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import current_app, request
from polis.errors import ApiError

F = TypeVar("F", bound=Callable[..., Any])


class OpsAccessDenied(ApiError):
    status = 401
    code = "unauthorized"
    message = "An operator token is required."


def ops_required(view: F) -> F:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        expected = current_app.config["OPS_TOKEN"].reveal()
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected.encode()):
            raise OpsAccessDenied()
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
