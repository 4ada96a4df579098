"""The ops API guard: `/api/iam/v1/ops/...` requires `Authorization: Bearer <token>`, where the token is

- an access token IAM issued for its own API (audience urn:polis:iam, scope `iam`) to a service client
  with the `ops` role, by client credentials (issue 5): the audit trail then names that client; or
- the static IAM_OPS_TOKEN (break-glass, and for tools that cannot do OAuth), compared in constant time so
  that the answer's timing tells nothing about how much of a guess was right.

Every area's ops view uses this one decorator: `from iam.ops import ops_required`.
"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app, g, request
from polis.auth import Principal
from polis.config import Secret
from polis.errors import Forbidden, Unauthorized

F = TypeVar("F", bound=Callable[..., Any])

SETTING = "OPS_TOKEN"
# Who the audit trail names for an ops call made with the static token (a client's token names the client).
OPS_ACTOR = "ops:token"


class OpsTokenRequired(Unauthorized):
    code = "ops_token_required"
    message = "This operation requires an ops token (Authorization: Bearer <token>)."


class OpsRoleRequired(Forbidden):
    code = "ops_role_required"
    message = "This token is valid but not an ops token: it needs the ops role and the iam scope."


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
        presented = _presented_token()
        if token_matches(current_app.config.get(SETTING), presented):
            g.ops_actor = OPS_ACTOR
            return view(*args, **kwargs)
        g.ops_actor = _ops_client(presented)
        return view(*args, **kwargs)

    # The OpenAPI document (polis.web) names the bearer token: 400/401/403 are then documented too.
    wrapper.__dict__["_polis_security"] = [{"bearer": ["iam"]}]
    return wrapper  # type: ignore[return-value]


def ops_actor() -> str:
    """The actor name of the current ops call, for the audit trail."""
    return str(g.get("ops_actor", OPS_ACTOR))


def _ops_client(presented: str | None) -> str:
    """The actor of an ops call made with an access token of IAM's provider, or the refusal."""
    from iam.oidc import endpoints
    from iam.permissions import PERMISSIONS

    record = endpoints.verify_access_token(presented) if presented else None
    if record is None:
        raise OpsTokenRequired()
    if (
        record.user is not None
        or not endpoints.is_for_api(record, "iam")
        or not PERMISSIONS["iam.ops"].allows(Principal.from_claims(record.claims))
    ):
        raise OpsRoleRequired()
    return f"client:{record.client_id}"
