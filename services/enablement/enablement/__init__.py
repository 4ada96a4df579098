"""The enablement service: the one-time procedure that lets an account use Istanze OnLine (D-ENA-*)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask
from polis.service import create_service_app

from enablement.config import SERVICE, load_settings
from enablement.extensions import db

__version__ = "0.1.0"


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """The enablement web application: the platform only, until its first area (requests) lands."""
    return create_service_app(__name__, settings=load_settings(config), version=__version__, db=db)


__all__ = ["SERVICE", "create_app"]
