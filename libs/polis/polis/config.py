"""Settings from the environment: typed readers, and secrets that are never defaulted outside dev/test."""

from __future__ import annotations

import builtins
import os
from collections.abc import Mapping
from typing import Any

ENVIRONMENTS = ("dev", "test", "production")


# D-ACC-9: the helpdesk contact shown on pages and in emails; deployments set POLIS_HELPDESK_* instead.
DEFAULT_HELPDESK_PHONE = "080 9267603"
DEFAULT_HELPDESK_HOURS = {"it": "lunedì-venerdì 8:00-18:30", "en": "Monday to Friday, 8:00-18:30"}


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the process must not start."""


class Secret:
    """A secret value whose repr and str never show it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


class Env:
    """Reads settings from a mapping (os.environ by default), knowing whether dev defaults are allowed."""

    def __init__(self, environ: Mapping[builtins.str, builtins.str] | None = None) -> None:
        self.environ = os.environ if environ is None else environ
        self.name = self.environ.get("POLIS_ENV", "production")
        if self.name not in ENVIRONMENTS:
            raise ConfigError(f"POLIS_ENV must be one of {', '.join(ENVIRONMENTS)}, not {self.name!r}")

    @property
    def is_production(self) -> bool:
        return self.name == "production"

    def str(self, name: builtins.str, default: builtins.str | None = None) -> builtins.str:
        value = self.environ.get(name)
        if value is None or value == "":
            if default is None:
                raise ConfigError(f"setting {name} is required")
            return default
        return value

    def int(self, name: builtins.str, default: int | None = None) -> int:
        raw = self.environ.get(name)
        if raw is None or raw == "":
            if default is None:
                raise ConfigError(f"setting {name} is required")
            return default
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"setting {name} must be an integer, not {raw!r}") from None

    def float(self, name: builtins.str, default: float | None = None) -> float:
        raw = self.environ.get(name)
        if raw is None or raw == "":
            if default is None:
                raise ConfigError(f"setting {name} is required")
            return default
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(f"setting {name} must be a number, not {raw!r}") from None

    def bool(self, name: builtins.str, default: bool) -> bool:
        raw = self.environ.get(name)
        if raw is None or raw == "":
            return default
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"setting {name} must be true or false, not {raw!r}")

    def list(self, name: builtins.str, default: list[builtins.str] | None = None) -> list[builtins.str]:
        raw = self.environ.get(name)
        if raw is None or raw.strip() == "":
            if default is None:
                raise ConfigError(f"setting {name} is required")
            return list(default)
        return [item.strip() for item in raw.split(",") if item.strip()]

    def delays(self, name: builtins.str, default: builtins.str) -> tuple[builtins.float, ...]:
        """Comma-separated seconds that only grow, such as retry delays ("1,5,30")."""
        raw = self.list(name, default.split(","))
        try:
            delays = tuple(builtins.float(item) for item in raw)
        except ValueError:
            listed = ",".join(raw)
            raise ConfigError(f"setting {name} must be comma-separated seconds, not {listed!r}") from None
        if not delays or any(delay <= 0 for delay in delays) or builtins.list(delays) != sorted(delays):
            raise ConfigError(f"setting {name} must be positive seconds in growing order")
        return delays

    def secret(self, name: builtins.str, dev_default: builtins.str | None = None) -> Secret:
        """A secret: required in production; in dev/test the development default may stand in."""
        value = self.environ.get(name)
        if value:
            return Secret(value)
        if not self.is_production and dev_default is not None:
            return Secret(dev_default)
        raise ConfigError(f"secret {name} is required (POLIS_ENV={self.name})")

    def database_url(self, service: builtins.str) -> builtins.str:
        """<SERVICE>_DATABASE_URL, else DATABASE_URL; outside production a SQLite file under var/."""
        for name in (f"{service.upper()}_DATABASE_URL", "DATABASE_URL"):
            value = self.environ.get(name)
            if value:
                return value
        if self.is_production:
            raise ConfigError(f"setting {service.upper()}_DATABASE_URL is required")
        var_dir = self.environ.get("POLIS_VAR_DIR", os.path.join(os.getcwd(), "var"))
        return f"sqlite:///{os.path.join(var_dir, service + '.sqlite3')}"

    def broker_url(self) -> builtins.str:
        if self.is_production:
            return self.secret("POLIS_BROKER_URL").reveal()
        return self.str("POLIS_BROKER_URL", "amqp://guest:guest@localhost:5672/%2F")


def apply_overrides(
    settings: dict[builtins.str, Any], config: Mapping[builtins.str, Any] | None
) -> dict[builtins.str, Any]:
    """Return settings updated with explicit overrides (create_app(config=...) in tests)."""
    merged = dict(settings)
    if config:
        merged.update(config)
    return merged
