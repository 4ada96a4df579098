"""Who may do what in enablement (polis.auth): the API scope "enablement" plus a role from IAM's token.

The actions come with their areas (DOMAIN.md D-ENA-*); each view names one with
`@PERMISSIONS.require("enablement.<action>")`, so the rules read in one place.
"""

from __future__ import annotations

from polis.auth import OPERATOR, OPS, SECURITY_OFFICER, USER, Permissions, permission

from enablement.config import SERVICE

PERMISSIONS = Permissions(
    SERVICE,
    {
        # D-ENA-2/4..7: a signed-in user starts and manages their own enablement and personal code.
        "enablement.read_own": permission(SERVICE, USER),
        "enablement.request": permission(SERVICE, USER),
        # D-ENA-3: an operator of an office identifies the applicant in person.
        "enablement.identify": permission(SERVICE, OPERATOR),
        # D-ENA-10: offices and operator assignments, by ops or a security officer (the console's page).
        "enablement.assign": permission(SERVICE, OPS, SECURITY_OFFICER),
        # Service-to-service and operations work: client-credentials tokens of clients with the ops role.
        "enablement.ops": permission(SERVICE, OPS),
    },
)
