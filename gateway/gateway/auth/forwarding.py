"""The user's access token on the /api/ calls of the portal's pages: taken from the session the cookie names.

Browsers send the portal's cookie with every request to the site, including ones another site makes them
send (a cross-site form POST). So the session's token is attached to an unsafe call (POST, PUT, PATCH,
DELETE) only when the browser says the call comes from the portal's own pages: `Sec-Fetch-Site:
same-origin`, or, from browsers without fetch metadata, an `Origin` equal to the portal's public address.
Otherwise the call goes on without it, and the service refuses it as unauthenticated. Safe calls carry it
(they change nothing, and a cross-site page cannot read the answer).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import Flask
from polis import requestid

from gateway.auth.client import RelyingParty
from gateway.auth.tokens import (
    ENDED,
    Refresher,
    SessionTokens,
    iam_grant,
    session_ended_at_iam,
)
from gateway.sessions import SessionCookies, session_store

log = logging.getLogger("gateway.auth")
EXTENSION = "gateway.portal_bearer"

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def same_origin(environ: dict[str, Any], public_origin: str | None) -> bool:
    """Did the portal's own pages make this request? Fetch metadata first; Origin for older browsers."""
    site = environ.get("HTTP_SEC_FETCH_SITE")
    if site is not None:
        return bool(site == "same-origin")
    origin = environ.get("HTTP_ORIGIN")
    if not origin:
        return False
    expected = public_origin or f"{environ.get('wsgi.url_scheme', 'http')}://{environ.get('HTTP_HOST', '')}"
    return bool(origin == expected)


class PortalBearer:
    """Finds the access token to forward for an /api/ call that came with a portal session cookie."""

    def __init__(
        self,
        *,
        cookies: SessionCookies,
        refresher: Refresher,
        relying_party: RelyingParty,
        public_url: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cookies = cookies
        self.refresher = refresher
        self.relying_party = relying_party
        parts = urlsplit(public_url) if public_url else None
        self.public_origin = f"{parts.scheme}://{parts.netloc}" if parts else None
        self.clock = clock

    def wanted(self, environ: dict[str, Any]) -> bool:
        """Cheap first look: only a call with the session cookie and no Authorization of its own."""
        return "HTTP_AUTHORIZATION" not in environ and self.cookies.name in environ.get("HTTP_COOKIE", "")

    def token_for(self, environ: dict[str, Any], method: str) -> tuple[str | None, list[tuple[str, str]]]:
        """The access token to send (or None), and the Set-Cookie headers the answer must carry."""
        session = self.cookies.load(environ)
        tokens = SessionTokens.from_session(session) if session else None
        if session is None or tokens is None:
            return None, []
        if session_ended_at_iam(self.refresher.store, session):  # logged out elsewhere: back-channel logout
            return None, [self.cookies.expire(session)]
        if method in UNSAFE and not same_origin(environ, self.public_origin):
            log.info("session token not attached: cross-site %s", method)
            return None, []
        headers: list[tuple[str, str]] = []
        outcome = self.refresher.current(
            tokens, iam_grant(self.relying_party, requestid.current_request_id())
        )
        if outcome is ENDED:
            return None, [self.cookies.expire(session)]
        if isinstance(outcome, SessionTokens):
            outcome.store(session)
            tokens = outcome
            headers.extend(self.cookies.dump(session))
        if not tokens.usable(self.clock()):
            return None, headers
        return tokens.access_token, headers


def portal_bearer(app: Flask) -> PortalBearer:
    """The app's PortalBearer, made once: its Refresher is shared by the pages and the API layer, so the
    two never spend one refresh token twice inside this process either; its store is the sessions' one."""
    bearer: PortalBearer | None = app.extensions.get(EXTENSION)
    if bearer is None:
        config = app.config
        refresher = Refresher(
            store=session_store(app),
            margin=config["GATEWAY_TOKEN_REFRESH_MARGIN"],
            grace=config["GATEWAY_REFRESH_GRACE"],
            wait=config["GATEWAY_CONNECT_TIMEOUT"] + config["GATEWAY_READ_TIMEOUT"],
        )
        bearer = PortalBearer(
            cookies=SessionCookies(app),
            refresher=refresher,
            relying_party=RelyingParty.from_settings(config, config["GATEWAY_OIDC_ISSUER"]),
            public_url=config["GATEWAY_OIDC_ISSUER"],
        )
        app.extensions[EXTENSION] = bearer
    return bearer
