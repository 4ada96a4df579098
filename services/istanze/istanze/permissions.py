"""Who may do what in istanze (polis.auth): the API scope "istanze" plus a role from IAM's token.

The actions come with their areas (DOMAIN.md D-IST-*); each view names one with
`@PERMISSIONS.require("istanze.<action>")`, so the rules read in one place.
"""

from __future__ import annotations

from polis.auth import OPS, USER, Permissions, permission

from istanze.config import SERVICE

PERMISSIONS = Permissions(
    SERVICE,
    {
        # D-IST-2/3/4: a signed-in user reads, drafts, submits and withdraws their own istanze.
        "istanze.read_own": permission(SERVICE, USER),
        "istanze.submit": permission(SERVICE, USER),
        # Procedures and windows, service-to-service reads: client-credentials tokens with the ops role.
        "istanze.ops": permission(SERVICE, OPS),
    },
)
