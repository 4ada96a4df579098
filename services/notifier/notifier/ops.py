"""The notifier's ops endpoints: `Authorization: Bearer <token>`, where the token is an IAM access token of a
service client with the ops role and the "notifier" scope, or the static break-glass NOTIFIER_OPS_TOKEN
(compared in constant time): polis.auth's one ops guard (issue 12)."""

from __future__ import annotations

from polis.auth.ops import ops_required as _ops_guard

from notifier.permissions import PERMISSIONS

ops_required = _ops_guard(PERMISSIONS, "notifier.ops")
