"""IAM's own pages and OpenID Connect endpoints, forwarded: /iam/..., /oidc/..., the discovery document;
and the pages other services render (SERVICE_PAGES: enablement's /abilitazione/..., istanze's /istanze/...),
sent with the portal session's access token, the way /api/ calls are.

Login, registration, recovery and the Area Riservata are IAM's pages (docs/architecture.md); the gateway
stays the only public entry, so it forwards them with IAM's cookies only, adds its security headers and
request id, and applies the per-address credential bands (gateway/stepup.py) to the forms that take
credentials.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, NoReturn

from flask import Blueprint, Flask, Response, current_app, request, session
from polis import requestid
from werkzeug.datastructures import EnvironHeaders
from werkzeug.exceptions import ServiceUnavailable
from werkzeug.http import parse_cookie

from gateway.api.connections import (
    ConnectionPools,
    Origin,
    UpstreamResponse,
    UpstreamTimeout,
    UpstreamUnreachable,
)
from gateway.api.proxy import HOP_BY_HOP, REQUEST_DROPPED, response_headers, target
from gateway.auth.tokens import SessionTokens
from gateway.extensions import limiter
from gateway.pages.account import with_account_menu
from gateway.platform import UPSTREAM_ERRORS
from gateway.responses import WholeBodyResponse
from gateway.stepup import Decision
from gateway.stepup_pages import check_credential_form, credential_guard

log = logging.getLogger("gateway.pages")

bp = Blueprint("iam_pages", __name__)

METHODS = ["GET", "HEAD", "POST"]
# Cookies the browser may hand to IAM, and the only ones IAM may set through the gateway.
IAM_COOKIE_PREFIXES = ("iam_", "__Host-iam_")
FORWARDED_COOKIES = ("lang",)
# Forms that check a captcha, a password or a codice fiscale, or send an email: the per-address credential
# bands (gateway/stepup.py). The middle steps of a registration are bound to its cookie and are not counted.
CREDENTIAL_FORMS = (
    "/iam/accedi",
    "/iam/cambio-password",
    "/iam/registrazione/step1",
    "/iam/registrazione/step5",
    "/iam/registrazione/conferma/",
    "/iam/recupero-username",
    "/iam/password-dimenticata",
    "/iam/area-riservata/password",
    "/iam/area-riservata/email",
)
# The OAuth endpoints partner servers call for all their users from a few addresses (the token endpoint,
# revocation, introspection): a limit of their own, per address, far above a person's; the secrets, codes
# and tokens they take are 256-bit random values, not something to guess.
TOKEN_ENDPOINTS = ("/oidc/token", "/oidc/revoke", "/oidc/introspect")
# Pages rendered by a service (polis.ui), by path prefix: the service, and the only cookies it gets and sets.
SERVICE_PAGES = {
    "/abilitazione/": ("enablement", ("enablement_", "__Host-enablement_")),
    "/istanze/": ("istanze", ("istanze_", "__Host-istanze_")),
}


def _is_credential_form() -> bool:
    return request.method == "POST" and request.path.startswith(CREDENTIAL_FORMS)


# Each of them counted apart, instead of the general page limit (gateway/ratelimit.py).
token_endpoint_limit = limiter.limit("RATELIMIT_TOKEN_ENDPOINTS")


@bp.route("/oidc/token", defaults={"rest": "token"}, methods=["POST"], endpoint="token_endpoint")
@bp.route("/oidc/revoke", defaults={"rest": "revoke"}, methods=["POST"], endpoint="revocation_endpoint")
@bp.route("/oidc/introspect", defaults={"rest": "introspect"}, methods=["POST"], endpoint="introspection")
@token_endpoint_limit
def forward_token_endpoint(rest: str) -> Response:
    return _forward()


@bp.route("/iam/", defaults={"rest": ""}, methods=METHODS)
@bp.route("/iam/<path:rest>", methods=METHODS)
@bp.route("/oidc/<path:rest>", methods=METHODS)
# Its own endpoint: two rules of one endpoint with the same defaults make werkzeug redirect (308) the one to
# the other, and GET /iam/ answered with the discovery document's address (the access matrix, issue 17).
@bp.route(
    "/.well-known/openid-configuration", defaults={"rest": ""}, methods=["GET", "HEAD"], endpoint="discovery"
)
def forward(rest: str) -> Response:
    if _is_credential_form():  # gateway/stepup.py: soft threshold, proof-of-work step-up, hard limit
        refused = check_credential_form()
        if refused is not None:
            return refused
    return _forward()


@bp.route("/abilitazione/", defaults={"rest": ""}, methods=METHODS)
@bp.route("/abilitazione/<path:rest>", methods=METHODS)
def forward_service_page(rest: str) -> Response:
    service, cookie_prefixes = SERVICE_PAGES["/abilitazione/"]
    return _forward(service, cookie_prefixes, with_token=True)


@bp.route("/istanze/", defaults={"rest": ""}, methods=METHODS)
@bp.route("/istanze/<path:rest>", methods=METHODS)
def forward_istanze_page(rest: str) -> Response:
    service, cookie_prefixes = SERVICE_PAGES["/istanze/"]
    return _forward(service, cookie_prefixes, with_token=True)


def _forward(
    service: str = "iam", cookie_prefixes: tuple[str, ...] = IAM_COOKIE_PREFIXES, *, with_token: bool = False
) -> Response:
    body = request.get_data(cache=False) or None
    pools = _pools()
    headers = _request_headers(cookie_prefixes)
    tokens = SessionTokens.from_session(session) if with_token else None
    if tokens is not None:  # refreshed before this request by the auth area (keep_api_tokens_fresh)
        headers["Authorization"] = f"Bearer {tokens.access_token}"
    try:
        answer = pools.request(_origin(service), request.method, target(request.environ), headers, body)
        payload = answer.read()
    except (UpstreamTimeout, UpstreamUnreachable, OSError) as exc:
        upstream_failed(service, exc)
    pools.release(answer, reusable=True)
    return answer_response(
        answer, payload, cookie_prefixes, menu=with_account_menu, vary_cookie=tokens is not None
    )


def credential_decision(app: Flask, address: str | None, proof: str | None) -> Decision:
    """check_credential_form's count (gateway/stepup.py) for a request without a step-up cookie."""
    return credential_guard(app).attempt(address or "unknown", proof)


def upstream_failed(service: str, exc: BaseException) -> NoReturn:
    """A service that did not answer: counted, logged, and the 503 page."""
    kind = "read_timeout" if isinstance(exc, UpstreamTimeout | TimeoutError) else "unreachable"
    UPSTREAM_ERRORS.labels(service, kind).inc()
    log.warning("service %s failed: %s", service, kind)
    raise ServiceUnavailable() from None


def answer_response(
    answer: UpstreamResponse,
    payload: bytes,
    cookie_prefixes: tuple[str, ...] = IAM_COOKIE_PREFIXES,
    *,
    menu: Callable[[bytes], tuple[bytes, bool]],
    vary_cookie: bool = False,
) -> Response:
    """The browser's answer from the service's: its headers that may pass, the service's own cookies only,
    and on an HTML page the signed-in user's menu (`menu`, gateway/pages/account.py)."""
    answer_headers = [
        (name, value)
        for name, value in response_headers(answer)
        if name.lower() != "content-length"
        and (name.lower() != "set-cookie" or value.startswith(cookie_prefixes))
    ]
    personal = False
    if (answer.header("Content-Type") or "").startswith("text/html"):
        payload, personal = menu(payload)  # the header shows who is signed in (polis.ui)
        if personal:  # the page now names its user: never stored by a shared cache
            answer_headers = [(n, v) for n, v in answer_headers if n.lower() != "cache-control"]
            answer_headers.append(("Cache-Control", "private, no-store"))
    response = WholeBodyResponse(payload, status=answer.status, headers=answer_headers)
    if vary_cookie or personal:
        response.vary.add("Cookie")
    return response


def _origin(service: str = "iam") -> Origin:
    return origin_of(current_app, service)


def origin_of(app: Flask, service: str = "iam") -> Origin:
    """The service's address, split once per app (not on every forwarded page)."""
    origins: dict[str, Origin] = app.extensions["gateway.page_origins"]
    origin = origins.get(service)
    if origin is None:
        origin = origins[service] = Origin.parse(app.config["GATEWAY_SERVICES"][service])
    return origin


def register_page_forwarding(app: Flask) -> None:
    """The blueprint, without CSRF tokens (IAM checks its own forms), and its connection pools."""
    from gateway.extensions import csrf

    app.extensions["gateway.page_pools"] = ConnectionPools(
        connect_timeout=app.config["GATEWAY_CONNECT_TIMEOUT"],
        read_timeout=app.config["GATEWAY_READ_TIMEOUT"],
        max_idle_seconds=app.config["GATEWAY_UPSTREAM_MAX_IDLE"],
    )
    app.extensions["gateway.page_origins"] = {}
    csrf.exempt(bp)
    app.register_blueprint(bp)


def _pools() -> ConnectionPools:
    return page_pools(current_app)


def page_pools(app: Flask) -> ConnectionPools:
    pools: ConnectionPools = app.extensions["gateway.page_pools"]
    return pools


def _request_headers(cookie_prefixes: tuple[str, ...] = IAM_COOKIE_PREFIXES) -> dict[str, str]:
    return request_headers(request.environ, request.host, cookie_prefixes)


def request_headers(
    environ: dict[str, Any], host: str, cookie_prefixes: tuple[str, ...] = IAM_COOKIE_PREFIXES
) -> dict[str, str]:
    """What the service is sent of the browser's request headers (`environ` as ProxyFix corrected it),
    with the request id and the X-Forwarded-* of the edge; `host` as Flask's request.host has it."""
    listed = {h.strip().lower() for h in environ.get("HTTP_CONNECTION", "").split(",")}
    headers = {
        name: value
        for name, value in EnvironHeaders(environ).items()
        if (lowered := name.lower()) not in HOP_BY_HOP
        and lowered not in REQUEST_DROPPED
        and lowered not in listed
    }
    cookies = "; ".join(
        f"{name}={value}"
        for name, value in parse_cookie(environ.get("HTTP_COOKIE")).items()
        if name.startswith(cookie_prefixes) or name in FORWARDED_COOKIES
    )
    if cookies:
        headers["Cookie"] = cookies
    headers[requestid.HEADER] = requestid.current_request_id() or requestid.new_request_id()
    headers["X-Forwarded-For"] = environ.get("REMOTE_ADDR") or ""
    headers["X-Forwarded-Proto"] = environ.get("wsgi.url_scheme", "http")
    headers["X-Forwarded-Host"] = host
    return headers
