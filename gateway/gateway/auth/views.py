"""The portal's login and logout through IAM (D-ENA-1, D-ACC-4): thin views over client.py."""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import (
    Blueprint,
    abort,
    current_app,
    g,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf.csrf import CSRFError
from polis import requestid
from werkzeug.wrappers.response import Response as WerkzeugResponse

from gateway.auth import client
from gateway.auth.client import LoginFailed, Pending, RelyingParty
from gateway.auth.forwarding import portal_bearer
from gateway.auth.home_page import personal_home_page
from gateway.auth.tokens import (
    ENDED,
    ENDED_SESSION_TTL,
    SessionTokens,
    StoreUnavailable,
    ended_session_key,
    iam_grant,
    session_ended_at_iam,
)
from gateway.extensions import csrf, limiter
from gateway.pages.views import safe_local_path
from gateway.sessions import logout_token, logout_token_valid, renew_session_id

log = logging.getLogger("gateway.auth")
bp = Blueprint("auth", __name__, template_folder="templates")

PENDING = "oidc_pending"
USER = "user"
F = TypeVar("F", bound=Callable[..., Any])
PERSONAL_HOME = "/area-personale"
# D-ENA-1: "Accedi" lands where enablement decides: the request, the mandatory change of the temporary
# personal code (D-ENA-4), or (enabled) the personal home. Partner users arrive the same way (D-ACC-2).
LANDING = "/abilitazione/"


RELYING_PARTIES = "gateway.relying_parties"


def relying_party() -> RelyingParty:
    """The portal as IAM's client, made once per app and issuer (in dev and tests the issuer is the
    request's own address) instead of on every page request."""
    issuer = current_app.config["GATEWAY_OIDC_ISSUER"] or request.url_root.rstrip("/")
    made: dict[str, RelyingParty] = current_app.extensions.setdefault(RELYING_PARTIES, {})
    rp = made.get(issuer)
    if rp is None:
        if len(made) >= 16:  # dev: one per Host the site was reached by; never a growing map
            made.clear()
        rp = made[issuer] = RelyingParty.from_settings(current_app.config, issuer)
    return rp


def callback_url(rp: RelyingParty | None = None) -> str:
    return f"{(rp or relying_party()).issuer}/accedi/callback"


def current_user() -> dict[str, Any] | None:
    user = session.get(USER)
    return user if isinstance(user, dict) else None


def login_required(view: F) -> F:
    """Portal pages for signed-in users: others go through /accedi and come back."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        user = current_user()
        if user is None:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        g.user = user
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


@bp.get("/accedi")
def login() -> WerkzeugResponse:
    """D-ENA-1 "Accedi": signed in -> LANDING (enablement's decision); otherwise the login at IAM (code flow
    + PKCE), then LANDING."""
    next_path = safe_local_path(request.args.get("next"))
    if current_user() is not None:
        return redirect(next_path if next_path != "/" else LANDING, 303)
    rp = relying_party()
    pending = Pending.new(next_path)
    session[PENDING] = pending.as_dict()
    return redirect(client.authorization_url(rp, pending, callback_url(rp)), 303)


@bp.get("/accedi/callback")
def callback() -> Any:
    pending = session.pop(PENDING, None)
    state = request.args.get("state", "")
    if not isinstance(pending, dict) or not hmac.compare_digest(str(pending.get("state", "")), state):
        # A stale tab, a replayed link or a forged callback: start again rather than guess.
        log.info("login callback refused: state does not match")
        return render_template("auth/login_failed.html", reason="state"), 400
    if request.args.get("error"):
        log.info("login refused by IAM: %s", request.args.get("error"))
        return render_template("auth/login_failed.html", reason="refused"), 400
    code = request.args.get("code", "")
    if not code or len(code) > 512:
        abort(400)
    rp = relying_party()
    try:
        tokens = client.exchange_code(
            rp,
            code=code,
            verifier=pending["verifier"],
            redirect_uri=callback_url(rp),
            request_id=requestid.current_request_id(),
        )
        claims = client.validate_id_token(rp, str(tokens.get("id_token", "")), nonce=pending["nonce"])
    except LoginFailed as failure:
        log.warning("login failed: %s", failure.reason)
        return render_template("auth/login_failed.html", reason="technical"), 502
    # A new session at login (no fixation): a new id, nothing from before survives but the language.
    session.clear()
    renew_session_id(session)
    session.permanent = True
    session[USER] = {
        "sub": claims["sub"],
        "username": claims.get("preferred_username"),
        "given_name": claims.get("given_name"),
        "family_name": claims.get("family_name"),
        "email": claims.get("email"),
        "iam_sid": claims.get("sid"),
        "login_at": int(time.time()),
    }
    session["id_token"] = tokens["id_token"]  # the hint for IAM's end-session at logout
    # The access token the portal forwards on the user's /api/ calls, and what renews it.
    api_tokens = SessionTokens.from_response(tokens, now=time.time())
    if api_tokens is not None:
        api_tokens.store(session)
    next_path = safe_local_path(pending.get("next"))
    return redirect(next_path if next_path != "/" else LANDING, 303)


@bp.post("/accedi/backchannel-logout")
@csrf.exempt  # a server-to-server call from IAM, authenticated by its signed logout token
@limiter.limit("RATELIMIT_TOKEN_ENDPOINTS")
def backchannel_logout() -> Any:
    """OpenID Connect Back-Channel Logout: IAM says an SSO session ended (a logout at another client, a
    password change...). The portal sessions born of it end at their next request, in every process."""
    try:
        claims = client.validate_logout_token(relying_party(), request.form.get("logout_token", ""))
    except LoginFailed as failure:
        log.info("back-channel logout refused: %s", failure.reason)
        answer = jsonify(error="invalid_request", error_description="The logout token is not acceptable.")
        return answer, 400, {"Cache-Control": "no-store"}
    store = portal_bearer(current_app).refresher.store
    try:
        store.put(ended_session_key(str(claims["sid"])), b"1", ttl=ENDED_SESSION_TTL)
    except StoreUnavailable as error:
        # Not recorded: IAM must try again (it retries a failed delivery), so never answer 200 here.
        log.warning("back-channel logout not recorded, asked IAM to retry: %s", error)
        answer = jsonify(
            error="temporarily_unavailable", error_description="The logout cannot be recorded now."
        )
        return answer, 503, {"Cache-Control": "no-store", "Retry-After": "30"}
    log.info("back-channel logout: IAM session ended, portal sessions of it will end")
    return "", 200, {"Cache-Control": "no-store"}


@bp.before_app_request
def end_sessions_ended_at_iam() -> None:
    if request.endpoint == "static" or request.path.startswith(
        ("/static/", "/healthz", "/readyz", "/metrics")
    ):
        return
    """A portal session whose SSO session IAM ended (back-channel logout) ends at its next request."""
    if session.get(USER) and session_ended_at_iam(portal_bearer(current_app).refresher.store, session):
        session.clear()


@bp.before_app_request
def keep_api_tokens_fresh() -> None:
    """On page requests, renew the session's access token before it runs out (the refresh grant); a
    refresh token IAM refuses ends the portal session. Static files never refresh (a page's many asset
    requests would only race each other), nor does logout or its confirmation page (the logout revokes the
    refresh token instead)."""
    if request.endpoint in ("static", "auth.logout", "auth.logout_confirmation") or request.path.startswith(
        ("/static/", "/healthz", "/readyz", "/metrics")
    ):
        return
    tokens = SessionTokens.from_session(session)
    if tokens is None:
        return
    bearer = portal_bearer(current_app)
    try:
        outcome = bearer.refresher.current(tokens, iam_grant(relying_party(), requestid.current_request_id()))
    except Exception:  # the refresh store failing must not take the page down: the tokens stay as they are
        log.exception("the session's access token could not be refreshed")
        return
    if outcome is ENDED:
        session.clear()
    elif isinstance(outcome, SessionTokens):
        outcome.store(session)


@bp.get(PERSONAL_HOME)
@login_required
def personal_home() -> WerkzeugResponse:
    page = make_response(personal_home_page(g.user))  # render_template's text, from a page with holes
    page.headers["Cache-Control"] = "no-store"  # the user's name and data: kept by no cache
    return page


@bp.get("/esci")
def logout_confirmation() -> Any:
    """ "Esci" reached by a link or typed: a page that asks, with the POST button (a GET changes nothing)."""
    if current_user() is None:
        return redirect("/", 303)
    page = make_response(render_template("auth/logout.html", logout_token=logout_token(session)))
    page.headers["Cache-Control"] = "no-store"
    return page


@bp.post("/esci")
@csrf.exempt  # its own token, bound to the session (the header's form has it on every page, forwarded too)
def logout() -> WerkzeugResponse:
    """Out of the portal and of IAM: the refresh token is revoked (RFC 7009, best effort: IAM's end-session
    ends it too), the session ends here (its entry deleted: its cookie is worth nothing from now on), then
    IAM's end-session brings the user back."""
    if current_user() is None:
        return redirect("/", 303)  # already out (ended, expired, or another tab logged out)
    if not logout_token_valid(session, request.form.get("csrf_token")):
        raise CSRFError("The logout token is missing or not this session's.")
    id_token = session.get("id_token")
    tokens = SessionTokens.from_session(session)
    session.clear()
    rp = relying_party()
    if tokens is not None and tokens.refresh_token:
        revoked = client.revoke(
            rp, token=tokens.refresh_token, hint="refresh_token", request_id=requestid.current_request_id()
        )
        if not revoked:
            log.warning("logout: the refresh token could not be revoked at IAM")
    return redirect(client.end_session_url(rp, id_token, f"{rp.issuer}/"), 303)
