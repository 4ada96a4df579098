"""Demo data of the oidc area: the portal registered as a client of IAM (make run, end-to-end tests)."""

from __future__ import annotations

from flask import current_app
from polis.db import Database

from iam.oidc import clients

PORTAL_CLIENT_ID = "portal"


def ensure_portal_client(db: Database) -> str:
    """Register the portal at IAM_PUBLIC_BASE_URL (idempotent); production uses `flask oidc-client ensure`."""
    base = current_app.config["PUBLIC_BASE_URL"]
    secret = current_app.config["PORTAL_CLIENT_SECRET"]
    if secret is None:
        return "oidc client portal: IAM_PORTAL_CLIENT_SECRET is not set, not registered"
    outcome = clients.ensure(
        db,
        client_id=PORTAL_CLIENT_ID,
        name="Istanze OnLine",
        secret=secret.reveal(),
        redirect_uris=[f"{base}/accedi/callback"],
        post_logout_redirect_uris=[f"{base}/"],
    )
    return f"oidc client {PORTAL_CLIENT_ID} {outcome} ({base}/accedi/callback)"
