"""The gateway's settings, read once from the environment when the app is created."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from polis.config import ConfigError, Env
from polis.ui import ui_settings

# The services behind /api/<name>/..., with their local-run addresses (docs/architecture.md, ports).
DEFAULT_SERVICES = {
    "iam": "http://127.0.0.1:8101",
    "enablement": "http://127.0.0.1:8102",
    "istanze": "http://127.0.0.1:8103",
    "notifier": "http://127.0.0.1:8104",
}
ONE_MIB = 1024 * 1024
ONE_YEAR = 365 * 24 * 3600

_SERVICE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}$")


def load_settings(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Flask config keys for the gateway; raises ConfigError when a required setting is missing."""
    env = Env(environ)
    secure_cookies = env.bool("GATEWAY_SECURE_COOKIES", env.is_production)
    return {
        "POLIS_ENV": env.name,
        "TESTING": env.name == "test",
        "SECRET_KEY": env.secret("GATEWAY_SECRET_KEY", dev_default="dev-only-gateway-secret-key").reveal(),
        "GATEWAY_SERVICES": _services(env),
        "GATEWAY_CONNECT_TIMEOUT": env.float("GATEWAY_CONNECT_TIMEOUT", 2.0),
        "GATEWAY_READ_TIMEOUT": env.float("GATEWAY_READ_TIMEOUT", 15.0),
        # Keep-alive connections to the services idle longer than this are not reused: below the
        # services' own keep-alive (gunicorn's default is 2 s), so the gateway never sends on one they closed.
        "GATEWAY_UPSTREAM_MAX_IDLE": env.float("GATEWAY_UPSTREAM_MAX_IDLE", 1.5),
        # Number of reverse proxies in front of the gateway whose X-Forwarded-* headers are trusted.
        "GATEWAY_TRUSTED_PROXIES": env.int("GATEWAY_TRUSTED_PROXIES", 0),
        "MAX_CONTENT_LENGTH": env.int("GATEWAY_MAX_CONTENT_LENGTH", ONE_MIB),
        # D-ACC-9: the helpdesk contact is configurable, never hard-coded in templates; the layout's settings
        # as every app's (polis.ui; the gateway's own asset version is given to register_ui instead).
        **ui_settings(env),
        # Rate limits ("N per minute; M per hour", the limits library's syntax; gateway/ratelimit.py for the
        # pages). Redis down: they count in this process until it answers again (gateway/stepup.py's
        # Windows; docs/architecture.md, "When Redis is down"). A shared store is required in production,
        # or every worker process would count on its own and the limits would multiply by the workers.
        "RATELIMIT_ENABLED": env.bool("GATEWAY_RATELIMIT_ENABLED", True),
        "RATELIMIT_STORAGE_URI": (
            env.str("GATEWAY_RATELIMIT_STORAGE")
            if env.is_production
            else env.str("GATEWAY_RATELIMIT_STORAGE", "memory://")
        ),
        # Per address, and one address may be a whole school or office (NAT): sized for hundreds of people
        # at the same deadline. Guessing is stopped per account by IAM; see docs/architecture.md.
        "RATELIMIT_DEFAULT": env.str("GATEWAY_RATELIMIT_DEFAULT", "3000 per minute; 100000 per hour"),
        # Credential forms and calls (gateway/stepup.py): beyond this soft threshold each one needs a solved
        # proof-of-work challenge; beyond the far higher _BLOCK limit the address waits for the reset.
        "RATELIMIT_AUTHENTICATION": env.str(
            "GATEWAY_RATELIMIT_AUTHENTICATION", "20 per minute; 200 per hour"
        ),
        "RATELIMIT_AUTHENTICATION_BLOCK": env.str(
            "GATEWAY_RATELIMIT_AUTHENTICATION_BLOCK", "600 per minute; 10000 per hour"
        ),
        # The challenge's life and its work: SHA-256 over at most this many numbers (half on average).
        "RATELIMIT_STEP_UP_TTL": env.int("GATEWAY_RATELIMIT_STEP_UP_TTL", 300),
        "RATELIMIT_STEP_UP_MAX_NUMBER": env.int("GATEWAY_RATELIMIT_STEP_UP_MAX_NUMBER", 100_000),
        "RATELIMIT_TOKEN_ENDPOINTS": env.str("GATEWAY_RATELIMIT_TOKEN_ENDPOINTS", "1200 per minute"),
        # The portal as OpenID Connect client of IAM (gateway/auth). The issuer is the public address of
        # the site (IAM's pages and /oidc/ are forwarded by the gateway); empty in dev/test: this request's.
        "GATEWAY_OIDC_CLIENT_ID": env.str("GATEWAY_OIDC_CLIENT_ID", "portal"),
        "GATEWAY_OIDC_CLIENT_SECRET": env.secret(
            "GATEWAY_OIDC_CLIENT_SECRET", dev_default="dev-only-portal-client-secret"
        ),
        "GATEWAY_OIDC_ISSUER": (
            env.str("GATEWAY_OIDC_ISSUER") if env.is_production else env.str("GATEWAY_OIDC_ISSUER", "")
        ).rstrip("/"),
        # The user's access token (forwarded on /api/ calls) is refreshed when it has less than this left.
        "GATEWAY_TOKEN_REFRESH_MARGIN": env.int("GATEWAY_TOKEN_REFRESH_MARGIN", 60),
        # The portal sessions (gateway/sessions.py: the cookie holds only their id), and where concurrent
        # requests share the outcome of a refresh (gateway/auth/tokens.py), so a rotated refresh token is
        # never sent twice: memory:// (one process), sqlite:///path (dev) or redis:// (every process).
        "GATEWAY_SESSION_STORE": _refresh_store(env),
        # How long that outcome is kept for requests that still carry the spent refresh token.
        "GATEWAY_REFRESH_GRACE": env.int("GATEWAY_REFRESH_GRACE", 120),
        "RATELIMIT_KEY_PREFIX": "polis-gateway",
        "GATEWAY_SECURE_COOKIES": secure_cookies,
        # The __Host- prefix makes browsers refuse the cookie unless Secure, Path=/ and without Domain.
        "SESSION_COOKIE_NAME": "__Host-polis" if secure_cookies else "polis_session",
        "SESSION_COOKIE_SECURE": secure_cookies,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "PERMANENT_SESSION_LIFETIME": env.int("GATEWAY_SESSION_LIFETIME", 8 * 3600),
        "WTF_CSRF_TIME_LIMIT": env.int("GATEWAY_CSRF_TIME_LIMIT", 4 * 3600),
        # Static files under their fingerprinted names are cached for a year (immutable); under their plain
        # names (an old bookmark, a stylesheet's relative url()) for this long, then revalidated by ETag.
        "GATEWAY_STATIC_MAX_AGE": env.int("GATEWAY_STATIC_MAX_AGE", 600),
        "BABEL_DEFAULT_LOCALE": "it",
        "BABEL_DEFAULT_TIMEZONE": "Europe/Rome",
        "LANGUAGES": ("it", "en"),
        "PREFERRED_URL_SCHEME": "https" if secure_cookies else "http",
    }


def _refresh_store(env: Env) -> str:
    """Where the gateway's processes share refresh outcomes and ended sessions: memory:// by default in
    dev/test (make run points it at a SQLite file under var/, shared by the workers); in production the
    rate limits' Redis unless GATEWAY_SESSION_STORE says."""
    if not env.is_production:
        store = env.str("GATEWAY_SESSION_STORE", "memory://")
    else:
        shared = env.environ.get("GATEWAY_RATELIMIT_STORAGE", "")
        default = shared if shared.startswith(("redis://", "rediss://")) else None
        store = env.str("GATEWAY_SESSION_STORE", default)
    allowed = ("memory://", "redis://", "rediss://") + (() if env.is_production else ("sqlite:///",))
    if not store.startswith(allowed):
        raise ConfigError("GATEWAY_SESSION_STORE must be memory://, a redis:// URL or (dev) sqlite:///path")
    if env.is_production and store.startswith("memory://") and env.int("GATEWAY_WORKERS", 2) > 1:
        # The portal sessions live in this store: each worker would know only its own logins.
        raise ConfigError("GATEWAY_SESSION_STORE=memory:// needs GATEWAY_WORKERS=1: use a redis:// URL")
    return store


def _services(env: Env) -> dict[str, str]:
    """The service map: GATEWAY_SERVICES="name=url,..." replaces the defaults; GATEWAY_<NAME>_URL one."""
    services = dict(DEFAULT_SERVICES)
    listed = env.list("GATEWAY_SERVICES", [])
    if listed:
        services = {}
        for item in listed:
            name, sep, url = item.partition("=")
            if not sep:
                raise ConfigError(f"GATEWAY_SERVICES entries must be name=url, not {item!r}")
            services[name.strip()] = url.strip()
    for name in list(services):
        services[name] = env.str(f"GATEWAY_{name.upper().replace('-', '_')}_URL", services[name])
    for name, url in services.items():
        if not _SERVICE_NAME.match(name):
            raise ConfigError(f"service name {name!r} in GATEWAY_SERVICES is not valid")
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"the URL of service {name!r} must start with http:// or https://")
        services[name] = url.rstrip("/")
    return services
