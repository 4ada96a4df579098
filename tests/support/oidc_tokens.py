"""Real IAM tokens for the cross-service tests: a person signs in to the portal through the gateway, then a
client's authorization code + PKCE flow in the same browser (IAM's single sign-on session answers at once)
gives the test that client's tokens; a service client's tokens come from the client-credentials grant.

Used by the fuzzing (tests/fuzz) and the access matrix (tests/access)."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from typing import Any

from support.browser import CSRF, Browser
from support.stack import SystemStack

PORTAL_SECRET = "dev-only-portal-client-secret"
OPS_SECRET = "dev-only-polis-ops-client-secret"
PORTAL_SCOPE = "openid profile email iam enablement istanze"


def portal_sign_in(stack: SystemStack, username: str, password: str) -> Browser:
    """`username` signs in to the portal ("Accedi", IAM's login form, back to the portal's callback)."""
    browser = Browser(stack.url())
    status, url, page = browser.go("/accedi")
    assert status == 200 and 'action="/iam/accedi"' in page, (status, url, page[:500])  # the login form
    next_path = page.split('name="next" value="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    form = {"username": username, "password": password, "next": next_path}
    status, url, page = browser.go("/iam/accedi", {**form, "csrf_token": CSRF.search(page).group(1)})  # type: ignore[union-attr]
    assert status == 200, (status, url, browser.trail, page[:500])
    return browser


def code_flow(
    stack: SystemStack,
    browser: Browser,
    *,
    client_id: str = "portal",
    secret: str = PORTAL_SECRET,
    redirect_uri: str | None = None,
    scope: str = PORTAL_SCOPE,
) -> dict[str, Any]:
    """The tokens of `client_id` for the person signed in in `browser` (a trusted client: no consent)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    redirect_uri = redirect_uri or stack.url("/accedi/callback")
    query = urllib.parse.urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "scope": scope,
            "state": secrets.token_urlsafe(16),
            "nonce": secrets.token_urlsafe(16),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    status, location, page = browser.request(f"/oidc/authorize?{query}")
    assert status in (302, 303) and location.startswith(redirect_uri), (status, location, page[:500])
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)["code"][0]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
    }
    return token_grant(stack, client_id, secret, form)


def sign_in(stack: SystemStack, username: str, password: str) -> tuple[Browser, dict[str, Any]]:
    """The portal's signed-in browser of `username` and the portal client's tokens for them."""
    browser = portal_sign_in(stack, username, password)
    return browser, code_flow(stack, browser)


def token_grant(stack: SystemStack, client_id: str, secret: str, form: dict[str, str]) -> dict[str, Any]:
    """One call of IAM's token endpoint (through the gateway) with the client's Basic credentials."""
    credentials = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    request = urllib.request.Request(  # noqa: S310 - the local stack
        stack.url("/oidc/token"),
        data=urllib.parse.urlencode(form).encode(),
        headers={"Authorization": f"Basic {credentials}"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
        return dict(json.load(answer))


def client_credentials(stack: SystemStack, client_id: str, secret: str, scope: str | None = None) -> str:
    """A service client's access token (client credentials), for `scope` or all the client's scopes."""
    form = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
    return str(token_grant(stack, client_id, secret, form)["access_token"])


def session_cookie(browser: Browser) -> str:
    """The browser's cookies as one Cookie header value."""
    jars = [
        handler.cookiejar
        for handler in getattr(browser.opener, "handlers", [])
        if isinstance(getattr(handler, "cookiejar", None), CookieJar)
    ]
    return "; ".join(f"{cookie.name}={cookie.value}" for cookie in jars[0])
