"""The enablement service: the one-time procedure that lets an account use Istanze OnLine (D-ENA-*)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask
from polis.service import create_service_app

from enablement.config import SERVICE, load_settings
from enablement.extensions import db
from enablement.permissions import PERMISSIONS

__version__ = "0.1.0"


def create_app(config: Mapping[str, Any] | None = None, *, iam: Any = None) -> Flask:
    """The enablement web application: the platform, token verification and the enablement API.

    `iam`: what answers IAM's questions (tests pass a fake; by default polis.rpc over the broker)."""
    from enablement.demo import load_demo_data
    from enablement.requests.views import register_api

    app = create_service_app(
        __name__,
        settings=load_settings(config),
        version=__version__,
        db=db,
        permissions=PERMISSIONS,
        demo_data=(load_demo_data,),
    )
    register_api(app, iam=iam)
    from enablement.pages import register_pages

    register_pages(app)
    return app


__all__ = ["SERVICE", "create_app"]
