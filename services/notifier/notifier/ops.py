"""The notifier's ops endpoints: `Authorization: Bearer <token>`, where the token is an IAM access token of a
service client with the ops role and the "notifier" scope (polis.auth, issue 5), or the static break-glass
NOTIFIER_OPS_TOKEN (compared in constant time)."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import current_app, request
from polis.auth.web import authenticate

from notifier.permissions import PERMISSIONS

F = TypeVar("F", bound=Callable[..., Any])


def _static_token_matches() -> bool:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    expected = current_app.config["OPS_TOKEN"].reveal()
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), expected.encode())


def ops_required(view: F) -> F:
    needed = PERMISSIONS["notifier.ops"]

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not _static_token_matches():
            needed.check(authenticate())  # 401 invalid_token / 403 insufficient_scope, RFC 6750 style
        return view(*args, **kwargs)

    wrapper.__dict__["_polis_security"] = [{"bearer": ["notifier"]}]  # the OpenAPI document (polis.web)
    return wrapper  # type: ignore[return-value]
