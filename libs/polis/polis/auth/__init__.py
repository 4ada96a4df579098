"""Services trust tokens, not headers: IAM's access tokens verified, and mapped to each service's permissions.

    from polis.auth import Permissions, permission, USER
    PERMISSIONS = Permissions("istanze", {"istanze.submit": permission("istanze", USER)})

    @bp.post("/api/istanze/v1/istanze")
    @PERMISSIONS.require("istanze.submit")
    def submit(): principal = current_principal() ...

`create_service_app(..., permissions=PERMISSIONS)` registers the verifier (settings from `token_settings`).
The one TokenVerifier and JwksCache (tokens.py, keys.py) also serve the gateway (ID and logout tokens) and
IAM (its own keys through a local KeySource); ops.py is the one ops guard of every service.
"""

from polis.auth.errors import (
    AuthError,
    InsufficientScope,
    InvalidRequest,
    InvalidToken,
    KeysUnavailable,
    TokenRequired,
)
from polis.auth.keys import JwksCache, KeySource, http_jwks, parse_jwks, static_jwks
from polis.auth.ops import ops_actor, ops_guard, ops_required
from polis.auth.permissions import (
    OPERATOR,
    OPS,
    SECURITY_OFFICER,
    USER,
    Permission,
    Permissions,
    permission,
)
from polis.auth.tokens import ALGORITHMS, Principal, TokenVerifier
from polis.auth.web import (
    audience_of,
    current_principal,
    register_token_auth,
    require_token,
    token_settings,
    verifier_from_settings,
)

__all__ = [
    "ALGORITHMS",
    "OPERATOR",
    "OPS",
    "SECURITY_OFFICER",
    "USER",
    "AuthError",
    "InsufficientScope",
    "InvalidRequest",
    "InvalidToken",
    "JwksCache",
    "KeySource",
    "KeysUnavailable",
    "Permission",
    "Permissions",
    "Principal",
    "TokenRequired",
    "TokenVerifier",
    "audience_of",
    "current_principal",
    "http_jwks",
    "ops_actor",
    "ops_guard",
    "ops_required",
    "parse_jwks",
    "permission",
    "register_token_auth",
    "require_token",
    "static_jwks",
    "token_settings",
    "verifier_from_settings",
]
