"""Sessions belong to the pages: Flask never opens or writes the session cookie under /api/.

The API layer (gateway/api/proxy.py, below Flask) still reads the portal session to forward its user's
access token, and writes it back when it refreshed that token: `SessionCookies` does both with the very
serializer, name and attributes of the pages' session interface, and only when the cookie is there.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from itsdangerous import BadSignature
from werkzeug.http import dump_cookie, parse_cookie

# The JSON API, and IAM's pages (forwarded with IAM's own cookies), never need the portal's session.
NO_SESSION_PREFIXES = ("/api/", "/iam/", "/oidc/", "/.well-known/")


class PageSessionInterface(SecureCookieSessionInterface):
    """The signed-cookie session for pages; none at all under /api/ (saves a verify and a sign per call)."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if request.path.startswith(NO_SESSION_PREFIXES):
            return None  # Flask substitutes a null session, which refuses writes
        return super().open_session(app, request)


class SessionCookies:
    """The portal session cookie read from, and written to, a raw WSGI request (the /api/ layer)."""

    def __init__(self, app: Flask) -> None:
        interface = PageSessionInterface()
        serializer = interface.get_signing_serializer(app)
        if serializer is None:
            raise ValueError("the gateway needs SECRET_KEY for its sessions")
        self._serializer = serializer
        self.name = interface.get_cookie_name(app)
        lifetime = app.config["PERMANENT_SESSION_LIFETIME"]
        self._lifetime = lifetime if isinstance(lifetime, timedelta) else timedelta(seconds=int(lifetime))
        self._attributes: dict[str, Any] = {
            "domain": interface.get_cookie_domain(app),
            "path": interface.get_cookie_path(app),
            "secure": interface.get_cookie_secure(app),
            "httponly": interface.get_cookie_httponly(app),
            "samesite": interface.get_cookie_samesite(app),
            "partitioned": interface.get_cookie_partitioned(app),
        }

    def load(self, environ: dict[str, Any]) -> dict[str, Any] | None:
        """The session in the request's cookie, or None (no cookie, a forged or an expired one)."""
        header = environ.get("HTTP_COOKIE", "")
        if self.name not in header:
            return None
        value = parse_cookie(header).get(self.name)
        if not value:
            return None
        try:
            data = self._serializer.loads(value, max_age=int(self._lifetime.total_seconds()))
        except BadSignature:
            return None
        return data if isinstance(data, dict) else None

    def dump(self, session: dict[str, Any]) -> tuple[str, str]:
        """The Set-Cookie header that stores `session`, as Flask's save_session would write it."""
        expires = datetime.now(UTC) + self._lifetime if session.get("_permanent") else None
        value = self._serializer.dumps(session)
        return "Set-Cookie", dump_cookie(self.name, value, expires=expires, **self._attributes)

    def expire(self) -> tuple[str, str]:
        """The Set-Cookie header that ends the session."""
        return "Set-Cookie", dump_cookie(self.name, "", expires=0, max_age=0, **self._attributes)
