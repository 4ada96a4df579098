"""The istanze service: procedures with their windows and the applications submitted to them (D-IST-*)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask
from polis.service import create_service_app

from istanze.applications.views import register_applications
from istanze.config import SERVICE, load_settings
from istanze.extensions import db
from istanze.ops.views import register_ops
from istanze.permissions import PERMISSIONS
from istanze.procedures.demo import load_demo_procedures
from istanze.procedures.views import register_procedures

__version__ = "0.1.0"


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """The istanze web application: the platform, token verification (GET /me) and the procedures' ops API."""
    app = create_service_app(
        __name__,
        settings=load_settings(config),
        version=__version__,
        db=db,
        permissions=PERMISSIONS,
        demo_data=(load_demo_procedures,),
    )
    register_procedures(app)
    register_applications(app)
    register_ops(app)
    from istanze.pages import register_pages

    register_pages(app)  # the user's pages at /istanze/... (through the gateway)
    return app


__all__ = ["SERVICE", "create_app"]
