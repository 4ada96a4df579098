"""Enablement settings from the environment: the ones every service has, and token verification's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polis.service as service

SERVICE = "enablement"


def load_settings(config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Every enablement setting; `config` overrides them (tests)."""
    return service.load_settings(SERVICE, config=config, verifies_tokens=True)
