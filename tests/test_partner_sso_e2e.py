"""Single sign-on for partner services, end to end with real processes (issue 5, "Must show"; items 2, 3, 4
and 6): a stock relying-party library (Authlib's requests client) against the real IAM through the real
gateway, and the partner demo "Pago in rete" (examples/pagoinrete_demo) sharing the portal's SSO session.

The user agent is the scripted browser of tests/support (cookies, one redirect at a time, IAM's login form
with its CSRF token). The client is the demo data's "pagoinrete", registered by IAM at the address the test
gives it (IAM_PAGOINRETE_DEMO_URL); test (a) never follows the redirect to it, test (b) runs the demo there.
"""

from __future__ import annotations

import html
import re
import urllib.parse
from http.cookiejar import CookieJar
from typing import Any

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from iam.demo import DEMO_ACCOUNTS, DemoAccount
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry
from polis.testing.helpers import wait_until
from polis.testing.partner_demo import start_demo
from polis.testing.ports import free_port
from support.browser import CSRF, Browser
from support.stack import SystemStack

pytestmark = pytest.mark.slow

CLIENT_ID = "pagoinrete"
CLIENT_SECRET = "e2e-pagoinrete-client-secret"
SCOPE = "openid profile email fiscal_number"
FISCAL_NUMBER = "https://attributes.eid.gov.it/fiscal_number"
ALGORITHMS = ["ES256", "RS256"]
NEXT = re.compile(r'name="next" value="([^"]+)"')
LOGIN_PAGE = "/iam/accedi"
# IAM's login form, wherever it is shown (the authorization endpoint answers with it, issue 18).
LOGIN_FORM = 'action="/iam/accedi"'
LOGIN_BUTTON = "Accedi con le credenziali di Istanze OnLine"
BACKCHANNEL_TIMEOUT = 30.0  # IAM's worker polls every second; the delivery is one POST
MAX_HOPS = 12


def account(username: str) -> DemoAccount:
    return next(entry for entry in DEMO_ACCOUNTS if entry.username == username)


def partner_stack(stack_factory: Any, demo_port: int) -> SystemStack:
    """The whole system, with IAM's demo data registering "pagoinrete" at http://localhost:<demo_port>."""
    return stack_factory(  # type: ignore[no-any-return]
        env={
            "IAM_PAGOINRETE_DEMO_URL": f"http://localhost:{demo_port}",
            "IAM_PARTNER_CLIENT_SECRET_PAGOINRETE": CLIENT_SECRET,
        }
    )


def submit_login(browser: Browser, page: str, who: DemoAccount) -> tuple[int, str]:
    """Post IAM's login form shown in `page` like a browser (its next and CSRF token); status, Location."""
    next_path = html.unescape(NEXT.search(page).group(1))  # type: ignore[union-attr]
    token = CSRF.search(page).group(1)  # type: ignore[union-attr]
    form = {"username": who.username, "password": who.password, "next": next_path, "csrf_token": token}
    status, location, body = browser.request(LOGIN_PAGE, form)
    assert status == 303, (status, body[:500])
    browser.trail.append(LOGIN_PAGE)
    return status, location


def authorize_as_browser(
    browser: Browser, url: str, *, redirect_uri: str, who: DemoAccount | None
) -> tuple[str | None, bool]:
    """Follow an authorization request hop by hop until IAM sends the browser back to `redirect_uri`.

    The callback itself is not opened (the relying party here is the test). IAM's login page, when it shows
    up, is filled in for `who`; with who=None the walk stops there. Returns (the callback URL or None,
    whether the password was asked).
    """
    asked = False
    for _ in range(MAX_HOPS):
        status, where, page = browser.request(url)
        browser.trail.append(urllib.parse.urlsplit(url).path)
        if status in (302, 303):
            if where.split("?")[0] == redirect_uri:
                return where, asked
            url = where
        elif status == 200 and LOGIN_FORM in page:
            asked = True
            if who is None:
                return None, True
            url = submit_login(browser, page, who)[1]
            if url.split("?")[0] == redirect_uri:  # the login itself sends the code back (issue 18)
                return url, asked
        else:
            raise AssertionError(f"{status} at {url}: {page[:800]}")
    raise AssertionError(f"too many redirects: {browser.trail}")


def validated_id_token(id_token: str, *, jwks: dict[str, Any], issuer: str, nonce: str) -> dict[str, Any]:
    """The ID token's claims after the checks a relying party makes (OIDC Core 3.1.3.7) with joserfc."""
    token = jwt.decode(id_token, KeySet.import_key_set(jwks), algorithms=ALGORITHMS)  # type: ignore[arg-type]
    JWTClaimsRegistry(
        leeway=60,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": CLIENT_ID},
        nonce={"essential": True, "value": nonce},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
    ).validate(token.claims)
    return dict(token.claims)


class RelyingParty:
    """A partner's server side, written with the stock library only: discovery, then OAuth2Session."""

    def __init__(self, stack: SystemStack, redirect_uri: str) -> None:
        self.metadata: dict[str, Any] = requests.get(
            stack.url("/.well-known/openid-configuration"), timeout=30
        ).json()
        self.jwks: dict[str, Any] = requests.get(self.metadata["jwks_uri"], timeout=30).json()
        self.redirect_uri = redirect_uri
        self.session = OAuth2Session(
            CLIENT_ID,
            CLIENT_SECRET,
            scope=SCOPE,
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            default_timeout=30,
        )

    def sign_in(self, browser: Browser, who: DemoAccount | None) -> tuple[dict[str, Any], str, bool]:
        """Authorization code + PKCE (S256) with state and nonce: (token response, nonce, password asked)."""
        verifier, nonce = generate_token(48), generate_token(20)
        url, state = self.session.create_authorization_url(
            self.metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce
        )
        callback, asked = authorize_as_browser(browser, url, redirect_uri=self.redirect_uri, who=who)
        assert callback is not None, browser.trail
        token = self.session.fetch_token(
            self.metadata["token_endpoint"],
            authorization_response=callback,  # Authlib checks the state and takes the code
            state=state,
            code_verifier=verifier,
        )
        return dict(token), nonce, asked

    def refresh(self, refresh_token: str) -> dict[str, Any]:
        return dict(self.session.refresh_token(self.metadata["token_endpoint"], refresh_token=refresh_token))

    def refused_refresh(self, refresh_token: str) -> str:
        """The OAuth error of a refresh that IAM refuses."""
        with pytest.raises(OAuthError) as refused:
            self.refresh(refresh_token)
        return str(refused.value.error)


def test_a_stock_relying_party_library_runs_the_whole_protocol_against_iam(stack_factory: Any) -> None:
    """Issue 5 "Must show": discovery -> code + PKCE -> token -> ID token validation -> userinfo -> refresh
    (rotation, reuse detection) -> revocation (RFC 7009) -> RP-initiated logout, with Authlib's client."""
    demo_port = free_port()  # nothing listens there: the callback is never opened
    stack = partner_stack(stack_factory, demo_port)
    redirect_uri = f"http://localhost:{demo_port}/auth/callback"
    mario = account("mario.rossi")

    # Discovery: the issuer is the public site; what the flow below needs is announced.
    rp = RelyingParty(stack, redirect_uri)
    metadata = rp.metadata
    assert metadata["issuer"] == stack.gateway_url
    assert "S256" in metadata["code_challenge_methods_supported"]
    assert {"authorization_code", "refresh_token"} <= set(metadata["grant_types_supported"])
    assert {"openid", "fiscal_number"} <= set(metadata["scopes_supported"])
    for endpoint in ("token", "userinfo", "revocation", "end_session", "jwks_uri"):
        key = endpoint if endpoint == "jwks_uri" else f"{endpoint}_endpoint"
        assert metadata[key].startswith(stack.gateway_url + "/"), key

    # Authorization code + PKCE: the browser logs in at IAM's page, the RP exchanges the code.
    browser = Browser(stack.url())
    token, nonce, asked = rp.sign_in(browser, mario)
    assert asked
    assert token["token_type"].lower() == "bearer" and token["expires_in"] > 0
    assert set(SCOPE.split()) <= set(token["scope"].split())

    # ID token: signature with the JWKS, iss, aud, nonce, exp; a wrong nonce is refused (the check is real).
    claims = validated_id_token(token["id_token"], jwks=rp.jwks, issuer=stack.gateway_url, nonce=nonce)
    assert claims["sid"] and claims["preferred_username"] == mario.username
    with pytest.raises(JoseError):
        validated_id_token(token["id_token"], jwks=rp.jwks, issuer=stack.gateway_url, nonce="another")
    access = jwt.decode(token["access_token"], KeySet.import_key_set(rp.jwks), algorithms=ALGORITHMS)  # type: ignore[arg-type]
    assert access.header["typ"] == "at+jwt"

    # Userinfo with the access token: the same user, the claims of each scope.
    userinfo = rp.session.get(metadata["userinfo_endpoint"]).json()
    assert userinfo["sub"] == claims["sub"]
    assert userinfo["preferred_username"] == mario.username
    assert userinfo["name"] == f"{mario.first_name} {mario.last_name}"
    assert userinfo["email"] == mario.personal_email
    assert userinfo[FISCAL_NUMBER] == mario.codice_fiscale

    # Refresh: rotated at each use; the used one again is reuse: refused, and the whole family with it.
    rotated = rp.refresh(token["refresh_token"])
    assert rotated["refresh_token"] != token["refresh_token"]
    assert rotated["access_token"] != token["access_token"]
    assert rp.refused_refresh(token["refresh_token"]) == "invalid_grant"
    assert rp.refused_refresh(rotated["refresh_token"]) == "invalid_grant"
    # ... and the family's access tokens stop working too.
    revoked_family = requests.get(
        metadata["userinfo_endpoint"],
        headers={"Authorization": f"Bearer {rotated['access_token']}"},
        timeout=30,
    )
    assert revoked_family.status_code == 401

    # Revocation (RFC 7009) of a new family's refresh token (the SSO session signs in without a password).
    second, _, asked_again = rp.sign_in(browser, None)
    assert not asked_again
    revoked = rp.session.revoke_token(
        metadata["revocation_endpoint"], token=second["refresh_token"], token_type_hint="refresh_token"
    )
    assert revoked.status_code == 200, revoked.text
    assert rp.refused_refresh(second["refresh_token"]) == "invalid_grant"

    # RP-initiated logout: back to the registered URI with the state; the SSO session is over.
    post_logout = f"http://localhost:{demo_port}/"
    query = urllib.parse.urlencode(
        {
            "id_token_hint": second["id_token"],
            "post_logout_redirect_uri": post_logout,
            "client_id": CLIENT_ID,
            "state": "after-logout",
        }
    )
    status, where, _ = browser.request(f"{metadata['end_session_endpoint']}?{query}")
    assert status in (302, 303)
    assert where == f"{post_logout}?state=after-logout"
    callback, asked = authorize_as_browser(
        browser,
        rp.session.create_authorization_url(
            metadata["authorization_endpoint"], code_verifier=generate_token(48), nonce=generate_token(20)
        )[0],
        redirect_uri=redirect_uri,
        who=None,
    )
    assert callback is None and asked, "after the logout a new authorization must ask for the password"


def cookie_jar(browser: Browser) -> CookieJar:
    handler = next(h for h in browser.opener.handlers if hasattr(h, "cookiejar"))
    return handler.cookiejar  # type: ignore[no-any-return]


def portal_backchannel_uri(stack: SystemStack) -> str | None:
    """The back-channel logout URI IAM has for the portal, if the portal registers one."""
    from iam.clients.models import OidcClient
    from polis.db import Database

    database = Database(stack.database_url("iam"))
    with database.transaction() as session:
        portal = session.get(OidcClient, "portal")
        uri = portal.backchannel_logout_uri if portal is not None else None
    database.dispose()
    return uri or None


def log_in_to_the_portal(browser: Browser, who: DemoAccount) -> None:
    # The portal's own session is what matters here: its personal home (not enablement's landing, D-ENA-1).
    status, url, page = browser.go("/accedi?next=/area-personale")
    assert status == 200 and LOGIN_FORM in page, (browser.trail, page[:500])
    _, location = submit_login(browser, page, who)
    status, url, page = browser.go(location)
    assert status == 200 and urllib.parse.urlsplit(url).path == "/area-personale", (browser.trail, page[:500])


def open_demo_login(browser: Browser, demo: str) -> tuple[int, str, str, list[str]]:
    """The demo's "Accedi" in the same browser: (status, final URL, page, the paths visited)."""
    start = len(browser.trail)
    status, url, page = browser.go(f"{demo}/login")
    return status, url, page, browser.trail[start:]


def test_the_portals_session_signs_the_user_in_to_the_partner_demo_and_logouts_reach_both(
    stack_factory: Any,
) -> None:
    """Issue 5 items 4 and 6: after the portal's login the demo signs in without a password; the demo's
    logout ends the IAM session; the portal's logout reaches the demo by back-channel logout."""
    demo_port = free_port()
    stack = partner_stack(stack_factory, demo_port)
    start_demo(stack, demo_port)
    demo = f"http://localhost:{demo_port}"
    mario = account("mario.rossi")
    browser = Browser(stack.url())

    # The portal first (password), then the demo: signed in with no login form on the way.
    log_in_to_the_portal(browser, mario)
    status, url, page, visited = open_demo_login(browser, demo)
    assert status == 200 and url == f"{demo}/", visited
    assert LOGIN_PAGE not in visited and "/oidc/authorize" in visited and "/auth/callback" in visited
    assert mario.username in page and mario.codice_fiscale in page and LOGIN_BUTTON not in page

    # Logout at the demo: out of the demo and of IAM (RP-initiated), back to the demo's home.
    start = len(browser.trail)
    status, url, page = browser.go(f"{demo}/logout", {})
    assert status == 200 and url.startswith(f"{demo}/?state="), browser.trail[start:]
    assert "/oidc/logout" in browser.trail[start:]
    assert "Sei uscito da Pago in rete" in page and LOGIN_BUTTON in page
    # The IAM session is over: the demo's "Accedi" now asks for the password ...
    status, url, page, visited = open_demo_login(browser, demo)
    assert status == 200 and LOGIN_FORM in page, visited
    # ... and so does a new login at the portal (at once by back-channel logout when the portal registered
    # for it; otherwise the portal's own session lives on until it ends, so a fresh portal session is used).
    if portal_backchannel_uri(stack):

        def portal_session_ended() -> bool:
            return LOGIN_FORM in browser.go("/area-personale")[2]

        wait_until(portal_session_ended, timeout=BACKCHANNEL_TIMEOUT)
    else:
        jar = cookie_jar(browser)
        for cookie in [cookie for cookie in jar if cookie.name == "polis_session"]:
            jar.clear(cookie.domain, cookie.path, cookie.name)
        status, url, page = browser.go("/accedi")
        assert status == 200 and LOGIN_FORM in page, browser.trail

    # Again: the portal (password), the demo (no password), then logout at the portal's "Esci".
    log_in_to_the_portal(browser, mario)
    status, url, page, visited = open_demo_login(browser, demo)
    assert status == 200 and url == f"{demo}/" and LOGIN_PAGE not in visited, visited
    assert mario.username in page
    status, url, _ = browser.log_out()
    assert status == 200 and "/oidc/logout" in browser.trail

    # IAM's worker tells the demo by back-channel logout: its session for that sid is gone.
    def demo_home_after_backchannel() -> str | None:
        page = browser.go(f"{demo}/")[2]
        return page if LOGIN_BUTTON in page else None

    page = wait_until(demo_home_after_backchannel, timeout=BACKCHANNEL_TIMEOUT, interval=0.2)
    assert "La sessione è terminata" in page  # ended on the server side, while the cookie still named it
    assert "back-channel logout: 1 local session(s) ended" in stack.log("pagoinrete-demo")
