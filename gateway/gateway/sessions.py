"""Sessions belong to the pages: the JSON API is stateless and never opens or writes the session cookie."""

from __future__ import annotations

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface

# The JSON API, and IAM's pages (forwarded with IAM's own cookies), never need the portal's session.
NO_SESSION_PREFIXES = ("/api/", "/iam/", "/oidc/", "/.well-known/")


class PageSessionInterface(SecureCookieSessionInterface):
    """The signed-cookie session for pages; none at all under /api/ (saves a verify and a sign per call)."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if request.path.startswith(NO_SESSION_PREFIXES):
            return None  # Flask substitutes a null session, which refuses writes
        return super().open_session(app, request)
