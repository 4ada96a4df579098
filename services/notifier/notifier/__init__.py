"""The notifier service: turns events that mean an email into delivered messages, with a delivery log."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask
from polis.service import create_service_app

from notifier.config import SERVICE, load_settings
from notifier.extensions import db
from notifier.permissions import PERMISSIONS

__version__ = "0.1.0"


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """The notifier web application (ops endpoints only): platform first, then its areas."""
    app = create_service_app(
        __name__, settings=load_settings(config), version=__version__, db=db, permissions=PERMISSIONS
    )
    register_blueprints(app)
    from notifier.metrics import register_backlog

    register_backlog(db)
    return app


def register_blueprints(app: Flask) -> None:
    from notifier.delivery.views import blueprint as deliveries

    app.register_blueprint(deliveries)


__all__ = ["SERVICE", "create_app"]
