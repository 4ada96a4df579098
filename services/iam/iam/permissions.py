"""Who may do what in IAM's own API (polis.auth): the API scope "iam" plus a role from IAM's token.

IAM verifies its tokens itself (iam.oidc.endpoints), so its guards read this map rather than
`@PERMISSIONS.require`: iam.ops for the ops API (besides the static IAM_OPS_TOKEN), iam.read_own for the
Area Riservata's API under /api/iam/v1/me.
"""

from __future__ import annotations

from polis.auth import OPS, USER, Permissions, permission

from iam.config import SERVICE

PERMISSIONS = Permissions(
    SERVICE,
    {
        # D-ACC-*: a signed-in user reads and changes their own account (the personal area's API).
        "iam.read_own": permission(SERVICE, USER),
        # Operations: client-credentials tokens of clients with the ops role (issue 5).
        "iam.ops": permission(SERVICE, OPS),
    },
)
