"""The demo's settings, from the environment only; secrets have no default outside development and tests."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

ENVIRONMENTS = ("dev", "test", "production")

# Development defaults, used only with POLIS_ENV=dev or test. The client secret is the one IAM's demo data
# registers for "pagoinrete" (IAM_PARTNER_CLIENT_SECRET_PAGOINRETE's development default).
DEV_CLIENT_SECRET = "dev-only-pagoinrete-client-secret"  # noqa: S105 - a development default
DEV_SECRET_KEY = "dev-only-pagoinrete-secret-key"  # noqa: S105 - a development default
DEV_ISSUER = "http://localhost:8080"
DEV_BASE_URL = "http://localhost:8090"


class SettingsError(RuntimeError):
    """A setting is missing or malformed: the app must not start."""


class Secret(str):
    """A string that never shows itself in a repr (so a logged settings object leaks nothing)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Secret('**********')"


@dataclass(frozen=True)
class Settings:
    environment: str
    issuer: str  # IAM's public base URL: discovery is at <issuer>/.well-known/openid-configuration
    base_url: str  # this app's public base URL: the redirect URIs registered at IAM are built on it
    client_id: str
    client_secret: Secret = field(repr=False)
    secret_key: Secret = field(repr=False)  # signs Flask's session cookie
    secure_cookies: bool
    session_hours: float

    @property
    def redirect_uri(self) -> str:
        return f"{self.base_url}/auth/callback"

    @property
    def post_logout_redirect_uri(self) -> str:
        return f"{self.base_url}/"

    @property
    def server_metadata_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        """Read PAGOINRETE_* and POLIS_ENV (default production: a forgotten setting fails closed)."""
        environment = environ.get("POLIS_ENV", "production")
        if environment not in ENVIRONMENTS:
            raise SettingsError(f"POLIS_ENV must be one of {', '.join(ENVIRONMENTS)}, not {environment!r}")
        development = environment in ("dev", "test")

        def value(name: str, dev_default: str) -> str:
            found = environ.get(name) or (dev_default if development else None)
            if not found:
                raise SettingsError(f"{name} is required when POLIS_ENV={environment}")
            return found

        secure = environ.get("PAGOINRETE_SECURE_COOKIES", "false" if development else "true")
        try:
            hours = float(environ.get("PAGOINRETE_SESSION_HOURS", "8"))
        except ValueError:
            raise SettingsError("PAGOINRETE_SESSION_HOURS must be a number of hours") from None
        return cls(
            environment=environment,
            issuer=value("PAGOINRETE_ISSUER", DEV_ISSUER).rstrip("/"),
            base_url=value("PAGOINRETE_BASE_URL", DEV_BASE_URL).rstrip("/"),
            client_id=environ.get("PAGOINRETE_CLIENT_ID") or "pagoinrete",
            client_secret=Secret(value("PAGOINRETE_CLIENT_SECRET", DEV_CLIENT_SECRET)),
            secret_key=Secret(value("PAGOINRETE_SECRET_KEY", DEV_SECRET_KEY)),
            secure_cookies=secure.strip().lower() in ("1", "true", "yes", "on"),
            session_hours=hours,
        )
