"""Who may do what in the notifier (polis.auth): its API is for operations only (the delivery log, retries,
metrics), so one permission: the API scope "notifier" with the ops role of a client-credentials token."""

from __future__ import annotations

from polis.auth import OPS, Permissions, permission

from notifier.config import SERVICE

PERMISSIONS = Permissions(SERVICE, {"notifier.ops": permission(SERVICE, OPS)})
