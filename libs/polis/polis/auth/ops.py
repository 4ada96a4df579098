"""The one ops guard of every service: an operations endpoint takes `Authorization: Bearer <token>`, where the
token is either

- the service's static break-glass token (setting `OPS_TOKEN`, for tools that cannot do OAuth), compared in
  constant time so that the answer's timing tells nothing about how much of a guess was right; or
- what the service's `authorize` accepts: by default an IAM access token holding the service's ops
  permission (a client-credentials token with the ops role and the service's scope, polis.auth).

The guard leaves on `flask.g.ops_actor` whom the audit trail names: `ops:token` for the static token, the
client (`client:<id>`) for an access token.

    OPS = ops_required(PERMISSIONS, "notifier.ops")

    @bp.get("/api/notifier/v1/deliveries")
    @OPS
    def deliveries(): ...
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import current_app, g, request

from polis.auth.permissions import Permission, Permissions
from polis.auth.web import authenticate
from polis.config import Secret

F = TypeVar("F", bound=Callable[..., Any])
# Given the presented bearer token (None: none came), the actor the audit trail names; raises the refusal.
Authorize = Callable[[str | None], str]

SETTING = "OPS_TOKEN"
OPS_ACTOR = "ops:token"  # who the audit trail names for a call made with the static token


def presented_token() -> str | None:
    """The token of `Authorization: Bearer <token>`, or None (another scheme, or nothing after it)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
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


def permission_authorizer(needed: Permission) -> Authorize:
    """An IAM access token verified by polis.auth that holds `needed`: 401 invalid_token or 403
    insufficient_scope otherwise (RFC 6750, in the Polis error shape)."""

    def authorize(_presented: str | None) -> str:
        principal = authenticate()
        needed.check(principal)
        return f"client:{principal.client_id}"

    return authorize


def ops_guard(*, scope: str, authorize: Authorize, setting: str = SETTING) -> Callable[[F], F]:
    """Decorate a view: the static token of `setting`, or a token `authorize` accepts; `scope` names the
    API scope in the OpenAPI document."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            presented = presented_token()
            if token_matches(current_app.config.get(setting), presented):
                g.ops_actor = OPS_ACTOR
            else:
                g.ops_actor = authorize(presented)
            return view(*args, **kwargs)

        # The OpenAPI document (polis.web) names the bearer token: 400/401/403 are then documented too.
        wrapper.__dict__["_polis_security"] = [{"bearer": [scope]}]
        return wrapper  # type: ignore[return-value]

    return decorate


def ops_required(permissions: Permissions, name: str, *, setting: str = SETTING) -> Callable[[F], F]:
    """The guard of a service whose ops permission is `name` in its map (its static token in `setting`)."""
    authorize = permission_authorizer(permissions[name])
    return ops_guard(scope=permissions.scope, authorize=authorize, setting=setting)


def ops_actor() -> str:
    """The actor of the current ops call, for the audit trail."""
    return str(g.get("ops_actor", OPS_ACTOR))
