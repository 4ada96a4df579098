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


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """The enablement web application: the platform and token verification (GET /me) for now."""
    return create_service_app(
        __name__, settings=load_settings(config), version=__version__, db=db, permissions=PERMISSIONS
    )


__all__ = ["SERVICE", "create_app"]
