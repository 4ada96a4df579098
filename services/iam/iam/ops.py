"""The ops API guard: `/api/iam/v1/ops/...` requires `Authorization: Bearer <token>`, where the token is

- an access token IAM issued for its own API (audience urn:polis:iam, scope `iam`) to a service client
  with the `ops` role, by client credentials (issue 5): the audit trail then names that client; or
- the static IAM_OPS_TOKEN (break-glass, and for tools that cannot do OAuth), compared in constant time so
  that the answer's timing tells nothing about how much of a guess was right.

The guard is polis.auth's one ops guard (issue 12); IAM plugs in its own check of the access token (its
verifier over its own keys, with the revocation check) and keeps its own refusals. Every area's ops view
uses this one decorator: `from iam.ops import ops_required`.
"""

from __future__ import annotations

from polis.auth import Principal
from polis.auth.ops import OPS_ACTOR, SETTING, ops_actor, ops_guard, token_matches
from polis.errors import Forbidden, Unauthorized

__all__ = [
    "OPS_ACTOR",
    "SETTING",
    "OpsRoleRequired",
    "OpsTokenRequired",
    "ops_actor",
    "ops_required",
    "token_matches",
]


class OpsTokenRequired(Unauthorized):
    code = "ops_token_required"
    message = "This operation requires an ops token (Authorization: Bearer <token>)."


class OpsRoleRequired(Forbidden):
    code = "ops_role_required"
    message = "This token is valid but not an ops token: it needs the ops role and the iam scope."


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


ops_required = ops_guard(scope="iam", authorize=_ops_client)
