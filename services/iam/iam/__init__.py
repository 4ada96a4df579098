"""The IAM service: accounts and credentials shared by Istanze OnLine and partner services (D-ACC-1)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask
from polis.service import DemoDataLoader, create_service_app

from iam.config import SERVICE, load_settings
from iam.extensions import db

__version__ = "0.1.0"


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """The IAM web application: settings, platform (logs, db, health, metrics, OpenAPI), then its areas."""
    app = create_service_app(
        __name__,
        settings=load_settings(config),
        version=__version__,
        db=db,
        demo_data=demo_loaders(),
        readiness={"signing_key": signing_key_opens},
    )
    register_pages(app)
    register_blueprints(app)
    return app


def signing_key_opens() -> None:
    """Ready only when the key that signs now opens with this process's IAM_KEY_ENCRYPTION_KEY: a wrong or
    missing KEK answers 503 here, before any login fails on it (issue 17 item 7)."""
    from iam.keys import service as keys

    keys.active_key(db, keys.ALG)


def demo_loaders() -> list[DemoDataLoader]:
    """The idempotent demo-data loaders of `flask --app iam demo-data` (make run)."""
    from iam.clients.demo import ensure_partner_clients, ensure_portal_client
    from iam.demo import load_demo_data

    return [ensure_portal_client, ensure_partner_clients, load_demo_data]


def register_pages(app: Flask) -> None:
    from iam.pages import register_pages as register

    register(app)


def register_blueprints(app: Flask) -> None:
    # Captcha first: registration and the recoveries use its adapter (registration work).
    from iam import registration
    from iam.captcha.views import register_captcha

    register_captcha(app)
    registration.register(app)

    # Sign-in and the OpenID Connect provider, area by area (each registers itself).
    from iam import clients, keys, oidc, signin

    keys.register(app)  # the keys' settings, their ops API and `oidc-keys` commands
    clients.register(app)  # the registry's ops API and `oidc-client` commands
    signin.register(app)  # the SSO session, the login and unlock pages, the ops unlock
    oidc.register(app)  # the provider's endpoints and the consent page

    # Recovery, Area Riservata, MI accounts, audit queries (recovery/personal-area work).
    from iam import personal_area, recovery
    from iam.audit.views import register_audit
    from iam.institutional.views import register_institutional

    recovery.register(app)
    personal_area.register(app)
    register_institutional(app)
    register_audit(app)

    # Revocation rounds of inactive accounts (revocation work, D-REV-*).
    from iam.revocation.views import register_revocation

    register_revocation(app)


__all__ = ["SERVICE", "create_app"]
