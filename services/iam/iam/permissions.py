"""Who may do what in IAM's own API (polis.auth): the API scope "iam" plus a role from IAM's token.

IAM verifies its tokens itself (iam.oidc.endpoints), so its guards read this map rather than
`@PERMISSIONS.require`: iam.ops for the ops API (besides the static IAM_OPS_TOKEN), iam.read_own for the
Area Riservata's API under /api/iam/v1/me. `api_login_required` is that API's guard, shared by the
areas that answer under it (personal_area, institutional).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import g, request
from polis.auth import OPS, USER, Permissions, Principal, permission
from polis.errors import Unauthorized

from iam.accounts.models import Account, AccountState
from iam.config import SERVICE
from iam.extensions import db
from iam.oidc import endpoints
from iam.signin import sessions

F = TypeVar("F", bound=Callable[..., Any])

PERMISSIONS = Permissions(
    SERVICE,
    {
        # D-ACC-*: a signed-in user reads and changes their own account (the personal area's API).
        "iam.read_own": permission(SERVICE, USER),
        # Operations: client-credentials tokens of clients with the ops role (issue 5).
        "iam.ops": permission(SERVICE, OPS),
    },
)


def _bearer_account() -> Account | None:
    """The account of an access token IAM issued for its own API (`Authorization: Bearer ...`: audience
    urn:polis:iam, scope iam), if the token is still good (not revoked, credentials unchanged)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    bearer = endpoints.verify_access_token(token.strip())
    if bearer is None or bearer.user is None or not endpoints.is_for_api(bearer, "iam"):
        return None
    if not PERMISSIONS["iam.read_own"].allows(Principal.from_claims(bearer.claims)):
        return None
    with db.transaction() as session:
        account = session.get(Account, bearer.user.account_id)
        if account is not None:
            session.expunge(account)
    return account


def api_login_required(view: F) -> F:
    """401 in the one error shape unless the caller is signed in and its account fully active.

    Two ways in: IAM's SSO cookie (a browser talking to IAM directly), or an access token issued by IAM's
    OpenID Connect provider (through the gateway, which forwards no cookie to the API).
    """

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        account = _bearer_account()
        g.api_auth = "bearer" if account is not None else "cookie"
        if account is None:
            account = sessions.current_account()
        if account is None or account.state != AccountState.ACTIVE.value:
            raise Unauthorized("Sign in first (a temporary password must be changed before anything else).")
        g.account = account
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
