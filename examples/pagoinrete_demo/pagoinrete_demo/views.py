"""The demo's pages and endpoints: home, login, callback, logout, back-channel logout, health."""

from __future__ import annotations

import logging
import secrets
import threading
import time
from typing import Any

import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.flask_client import FlaskOAuth2App
from flask import Blueprint, current_app, jsonify, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from joserfc.jwk import KeySet

from pagoinrete_demo import logout_token
from pagoinrete_demo.sessions import SessionRegistry
from pagoinrete_demo.settings import Settings

log = logging.getLogger("pagoinrete_demo")
bp = Blueprint("demo", __name__)

SESSION_ID = "session_id"  # the only thing the cookie holds once signed in
FISCAL_NUMBER = "https://attributes.eid.gov.it/fiscal_number"  # the claim name SPID/CIE RPs already read
JWKS_MIN_REFRESH_SECONDS = 30.0


def settings() -> Settings:
    return current_app.config["PAGOINRETE"]  # type: ignore[no-any-return]


def iam() -> FlaskOAuth2App:
    """Authlib's client for IAM (registered in create_app)."""
    return current_app.extensions["authlib.integrations.flask_client"].iam  # type: ignore[no-any-return]


def registry() -> SessionRegistry:
    return current_app.extensions["pagoinrete.sessions"]  # type: ignore[no-any-return]


@bp.get("/")
def home() -> ResponseReturnValue:
    """The signed-in user's claims, or the button that starts the login at IAM."""
    logged_out = False
    if request.args.get("state"):  # back from IAM's end-session endpoint (RP-initiated logout)
        try:
            iam().validate_logout_response()
            logged_out = True
        except OAuthError:
            pass  # a stale or forged state: nothing to confirm, the page is the same
    record = registry().get(session.get(SESSION_ID))
    ended_elsewhere = record is None and SESSION_ID in session
    if ended_elsewhere:  # ended by IAM (back-channel logout) or too old: the cookie no longer means anything
        session.pop(SESSION_ID)
    return render_template(
        "home.html",
        user=record.claims if record else None,
        fiscal_number=record.claims.get(FISCAL_NUMBER) if record else None,
        logged_out=logged_out,
        ended_elsewhere=ended_elsewhere,
    )


@bp.get("/login")
def login() -> ResponseReturnValue:
    """Authorization code flow with PKCE (S256) and a nonce; Authlib keeps state, nonce and verifier in the
    session cookie until the callback."""
    if registry().get(session.get(SESSION_ID)) is not None:
        return redirect(url_for(".home"))
    return iam().authorize_redirect(settings().redirect_uri, nonce=secrets.token_urlsafe(24))


@bp.get("/auth/callback")
def callback() -> ResponseReturnValue:
    """Code -> tokens (with the PKCE verifier); Authlib validates the ID token (signature with IAM's JWKS,
    iss, aud, exp, iat, nonce); then the claims from the userinfo endpoint."""
    client = iam()
    try:
        token = client.authorize_access_token()
        id_claims: dict[str, Any] = dict(token.get("userinfo") or {})
        if not id_claims.get("sub"):
            raise OAuthError(error="invalid_token", description="no valid ID token in the token response")
        userinfo = dict(client.userinfo(token=token))
    except OAuthError as error:
        log.warning("login refused: %s", error.error)
        return render_template("error.html", reason="refused"), 400
    except (requests.RequestException, ValueError) as error:
        log.warning("login failed, IAM unreachable or malformed answer: %s", type(error).__name__)
        return render_template("error.html", reason="unavailable"), 502
    if userinfo.get("sub") != id_claims["sub"]:  # OIDC Core 5.3.2: the userinfo must be the same user's
        log.warning("login refused: userinfo sub differs from the ID token's")
        return render_template("error.html", reason="refused"), 400
    session.clear()  # a fresh session at login: nothing from before survives (no fixation)
    session[SESSION_ID] = registry().open(
        sub=str(id_claims["sub"]),
        sid=str(id_claims["sid"]) if id_claims.get("sid") else None,
        claims={**id_claims, **userinfo},
        id_token=str(token["id_token"]),
    )
    session.permanent = True
    return redirect(url_for(".home"))


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """Out of the demo, then out of IAM (RP-initiated logout), which brings the user back to the home.

    POST only: with a SameSite=Lax cookie another site cannot log the user out with a link or a form.
    """
    record = registry().close(session.get(SESSION_ID))
    session.clear()
    if record is None:
        return redirect(url_for(".home"))
    return iam().logout_redirect(
        post_logout_redirect_uri=settings().post_logout_redirect_uri,
        id_token_hint=record.id_token,
        client_id=settings().client_id,
    )


@bp.post("/backchannel-logout")
def backchannel_logout() -> ResponseReturnValue:
    """IAM says an SSO session ended: end the local sessions it names (Back-Channel Logout 1.0, 2.8)."""
    try:
        named = logout_token.verify(
            request.form.get("logout_token", ""),
            keys=issuer_keys,
            issuer=settings().issuer,
            client_id=settings().client_id,
        )
    except logout_token.InvalidLogoutToken as error:
        log.warning("back-channel logout refused: %s", error)
        return _no_store(jsonify(error="invalid_request", error_description=str(error)), 400)
    except (requests.RequestException, ValueError) as error:
        log.warning("back-channel logout: IAM's keys unavailable: %s", type(error).__name__)
        return _no_store(jsonify(error="temporarily_unavailable"), 503)
    ended = registry().close_matching(sub=named.sub, sid=named.sid)
    log.info("back-channel logout: %d local session(s) ended", ended)
    return _no_store(current_app.response_class(status=200))


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    return jsonify(status="ok")


class IssuerKeys:
    """IAM's JWKS through Authlib's client, which caches them with the discovery metadata.

    An unknown key id (IAM rotated its keys) fetches them again, at most every JWKS_MIN_REFRESH_SECONDS:
    a flood of bogus tokens cannot make this app hammer IAM.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._refreshed_at = -JWKS_MIN_REFRESH_SECONDS

    def __call__(self, force: bool) -> KeySet:
        with self._lock:
            refresh = force and time.monotonic() - self._refreshed_at >= JWKS_MIN_REFRESH_SECONDS
            jwks = iam().fetch_jwk_set(force=refresh)
            if refresh:
                self._refreshed_at = time.monotonic()
        return KeySet.import_key_set(jwks)


def issuer_keys(force: bool) -> KeySet:
    keys: IssuerKeys = current_app.extensions["pagoinrete.keys"]
    return keys(force)


def _no_store(response: Any, status: int | None = None) -> ResponseReturnValue:
    response.headers["Cache-Control"] = "no-store"
    return (response, status) if status else response
