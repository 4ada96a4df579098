"""The running app's recovery policy (lifetimes and limits), read by the views of recovery and others."""

from __future__ import annotations

from flask import current_app

from iam.recovery import service

POLICY = "iam.recovery_policy"  # app.extensions[POLICY], set by register_recovery


def policy() -> service.RecoveryPolicy:
    recovery_policy: service.RecoveryPolicy = current_app.extensions[POLICY]
    return recovery_policy
