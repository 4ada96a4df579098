"""Demo data of the oidc area (make run, end-to-end tests): the portal, the four partner services of D-ACC-1
and a service client, registered as clients of IAM. Production registers its clients with the ops API or
`flask --app iam oidc-client ensure` instead."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from polis.db import Database

from iam.clients import service as clients

PORTAL_CLIENT_ID = "portal"
OPS_CLIENT_ID = "polis-ops"
DEMO_ACTOR = "ops:demo-data"
PARTNER_SCOPES = ("openid", "profile", "email", "fiscal_number")


@dataclass(frozen=True)
class Partner:
    """A Ministry service that signs its users in with IAM (trusted: no consent page)."""

    client_id: str
    name: str
    base_url: str  # post-logout redirect URI: <base>/
    callback_path: str = "/callback"
    backchannel: bool = False  # <base>/backchannel-logout


# Placeholder hosts (.invalid never resolves) until each service gives its real addresses; they get no
# back-channel logout URI, so IAM's worker has nothing to post to a host that does not exist.
PLACEHOLDER_PARTNERS = (
    Partner("iscrizioni", "Iscrizioni online", "https://iscrizioni.example.invalid"),
    Partner(
        "governance-formazione",
        "Portale della governance della formazione",
        "https://governance-formazione.example.invalid",
    ),
    Partner(
        "assistenti-lingua",
        "Assistenti di lingua italiana all'estero",
        "https://assistenti-lingua.example.invalid",
    ),
)


def ensure_portal_client(db: Database) -> str:
    """Register the portal at IAM_PUBLIC_BASE_URL (idempotent); production uses `flask oidc-client ensure`."""
    base = current_app.config["PUBLIC_BASE_URL"]
    secret = current_app.config["PORTAL_CLIENT_SECRET"]
    if secret is None:
        return "oidc client portal: IAM_PORTAL_CLIENT_SECRET is not set, not registered"
    scopes = [*clients.IDENTITY_SCOPES, *clients.USER_API_SCOPES]
    outcome = clients.ensure(
        db,
        client_id=PORTAL_CLIENT_ID,
        name="Istanze OnLine",
        secret=secret.reveal(),
        redirect_uris=[f"{base}/accedi/callback"],
        post_logout_redirect_uris=[f"{base}/"],
        scopes=scopes,
        grant_types=["authorization_code", "refresh_token"],
        audiences=[clients.audience_of(api) for api in clients.USER_API_SCOPES],
        backchannel_logout_uri=f"{base}/accedi/backchannel-logout",  # gateway/auth/views.py
        actor=DEMO_ACTOR,
    )
    return f"oidc client {PORTAL_CLIENT_ID} {outcome} ({base}/accedi/callback)"


def ensure_partner_clients(db: Database) -> str:
    """Register Pago in rete (the demo app of examples/, at IAM_PAGOINRETE_DEMO_URL), the three other partner
    services at placeholder hosts, and the polis-ops service client (idempotent)."""
    config = current_app.config
    partners = list(PLACEHOLDER_PARTNERS)
    demo_url = config["PAGOINRETE_DEMO_URL"]
    if demo_url:
        partners.insert(
            0, Partner("pagoinrete", "Pago in rete (demo)", demo_url, "/auth/callback", backchannel=True)
        )
    report = []
    for partner in partners:
        secret = config["PARTNER_CLIENT_SECRETS"].get(partner.client_id)
        if secret is None:
            report.append(f"{partner.client_id} not registered (no secret)")
            continue
        outcome = clients.ensure(
            db,
            client_id=partner.client_id,
            name=partner.name,
            secret=secret.reveal(),
            redirect_uris=[partner.base_url + partner.callback_path],
            post_logout_redirect_uris=[f"{partner.base_url}/"],
            backchannel_logout_uri=f"{partner.base_url}/backchannel-logout" if partner.backchannel else None,
            scopes=PARTNER_SCOPES,
            grant_types=["authorization_code", "refresh_token"],
            trusted=True,
            actor=DEMO_ACTOR,
        )
        report.append(f"{partner.client_id} {outcome}")
    report.append(ensure_ops_client(db))
    return "oidc clients: " + ", ".join(report)


def ensure_ops_client(db: Database) -> str:
    """polis-ops: a service acting for itself (client credentials) with the ops role on every Polis API."""
    secret = current_app.config["OPS_CLIENT_SECRET"]
    if secret is None:
        return f"{OPS_CLIENT_ID} not registered (IAM_OPS_CLIENT_SECRET is not set)"
    outcome = clients.ensure(
        db,
        client_id=OPS_CLIENT_ID,
        name="Polis ops",
        secret=secret.reveal(),
        grant_types=["client_credentials"],
        scopes=clients.API_SCOPES,
        audiences=[clients.audience_of(api) for api in clients.API_SCOPES],
        service_roles=["ops"],
        access_token_ttl=300,
        actor=DEMO_ACTOR,
    )
    return f"{OPS_CLIENT_ID} {outcome}"
