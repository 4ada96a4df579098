"""The IAM service: accounts and credentials shared by Istanze OnLine and partner services (D-ACC-1)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask
from polis.service import create_service_app

from iam.config import SERVICE, load_settings
from iam.extensions import db

__version__ = "0.1.0"


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """The IAM web application: settings, platform (logs, db, health, metrics, OpenAPI), then its areas."""
    app = create_service_app(__name__, settings=load_settings(config), version=__version__, db=db)
    register_blueprints(app)
    return app


def register_blueprints(app: Flask) -> None:
    from iam.confirmations.views import register_confirmations

    register_confirmations(app)


__all__ = ["SERVICE", "create_app"]
