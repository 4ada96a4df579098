"""The Flask side of token verification: settings, registration on an app, the guard decorator, GET /me.

A view guarded here reads `Authorization: Bearer <token>`, verifies it for this service's audience, checks
the permission and leaves the principal on `flask.g.principal` (also `current_principal()`). Refusals are
the Polis JSON error shape with the RFC 6750 challenge in `WWW-Authenticate`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar

from flask import Flask, Response, current_app, g, jsonify, request
from marshmallow import fields

from polis.auth.errors import AuthError, InvalidRequest, TokenRequired
from polis.auth.keys import JwksCache, KeySource, http_jwks, static_jwks
from polis.auth.permissions import Permission, Permissions
from polis.auth.tokens import Principal, TokenVerifier
from polis.config import Env
from polis.web import ApiSchema, api_doc

log = logging.getLogger("polis.auth")

F = TypeVar("F", bound=Callable[..., Any])
EXTENSION = "polis.auth"
REALM = "polis"
AUDIENCE_PREFIX = "urn:polis:"
# RFC 6750 section 2.1: b64token.
_BEARER = re.compile(r"^[A-Za-z0-9\-._~+/]+=*$")
# Local runs (polis.testing.devstack, docs/architecture.md): the gateway's public address is the issuer, IAM
# answers on 8101.
DEV_ISSUER = "http://localhost:8080"
DEV_JWKS_URL = "http://127.0.0.1:8101/oidc/jwks"


def audience_of(service: str) -> str:
    """The audience of a service's API in IAM's tokens (IAM's clients.audience_of)."""
    return f"{AUDIENCE_PREFIX}{service}"


def token_settings(env: Env, service: str) -> dict[str, Any]:
    """Settings of a service that verifies IAM's access tokens; issuer and JWKS URL required in production.

    `TOKEN_JWKS` is for tests: a JWKS document, or a callable returning one, used instead of the URL."""
    dev = not env.is_production
    return {
        "TOKEN_ISSUER": env.str("POLIS_OIDC_ISSUER", DEV_ISSUER if dev else None).rstrip("/"),
        "TOKEN_JWKS_URL": env.str("POLIS_OIDC_JWKS_URL", DEV_JWKS_URL if dev else None),
        "TOKEN_AUDIENCE": audience_of(service),
        "TOKEN_CLOCK_SKEW": env.int("POLIS_OIDC_CLOCK_SKEW", 60),
        "TOKEN_JWKS_MAX_AGE": env.float("POLIS_OIDC_JWKS_MAX_AGE", 300.0),
        "TOKEN_JWKS_MIN_REFRESH": env.float("POLIS_OIDC_JWKS_MIN_REFRESH", 30.0),
        "TOKEN_JWKS_TIMEOUT": env.float("POLIS_OIDC_JWKS_TIMEOUT", 3.0),
        "TOKEN_JWKS": None,
    }


def verifier_from_settings(settings: Mapping[str, Any]) -> TokenVerifier:
    given = settings.get("TOKEN_JWKS")
    source: KeySource
    if given is None:
        source = http_jwks(settings["TOKEN_JWKS_URL"], timeout=settings["TOKEN_JWKS_TIMEOUT"])
    elif callable(given):
        source = given
    else:
        source = static_jwks(given)  # a fixed set of keys, for tests
    keys = JwksCache(
        source,
        max_age=settings["TOKEN_JWKS_MAX_AGE"],
        min_refresh_interval=settings["TOKEN_JWKS_MIN_REFRESH"],
    )
    return TokenVerifier(
        issuer=settings["TOKEN_ISSUER"],
        audience=settings["TOKEN_AUDIENCE"],
        keys=keys,
        clock_skew=settings["TOKEN_CLOCK_SKEW"],
    )


@dataclass(frozen=True)
class _State:
    verifier: TokenVerifier
    permissions: Permissions


def register_token_auth(app: Flask, permissions: Permissions, verifier: TokenVerifier | None = None) -> None:
    """Verify tokens on this app with its service's permission map; adds GET /api/<service>/v1/me."""
    app.extensions[EXTENSION] = _State(verifier or verifier_from_settings(app.config), permissions)
    app.register_error_handler(AuthError, _refused)
    _register_me(app, permissions)


def _refused(error: AuthError) -> tuple[Response, int]:
    # The reason goes to the log (never the token); the client gets the same text in the error body.
    log.info("bearer token refused", extra={"status": error.status, "reason": error.message})
    response = jsonify(error.to_dict())
    response.headers["WWW-Authenticate"] = error.www_authenticate(REALM)
    return response, error.status


def bearer_token() -> str:
    """The token of `Authorization: Bearer ...`; TokenRequired if none, InvalidRequest if malformed."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise TokenRequired()
    token = token.strip()
    if not _BEARER.match(token):
        raise InvalidRequest()
    return token


def authenticate() -> Principal:
    """The request's verified principal (cached on flask.g for the request)."""
    principal: Principal | None = g.get("principal")
    if principal is None:
        state: _State = current_app.extensions[EXTENSION]
        principal = state.verifier.verify(bearer_token())
        g.principal = principal
    return principal


def current_principal() -> Principal:
    principal: Principal | None = g.get("principal")
    if principal is None:
        raise RuntimeError("current_principal() outside a view guarded by polis.auth")
    return principal


def guard(needed: Permission) -> Callable[[F], F]:
    """Decorate a view: only a verified principal that `needed` allows reaches it."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            needed.check(authenticate())
            return view(*args, **kwargs)

        scopes = [needed.scope] if needed.scope else []
        wrapper.__dict__["_polis_security"] = [{"bearer": scopes}]  # the OpenAPI document (polis.web)
        return wrapper  # type: ignore[return-value]

    return decorate


def require_token(*, scope: str | None = None, roles: tuple[str, ...] = ()) -> Callable[[F], F]:
    """Decorate a view: a verified token with `scope` and one of `roles` (outside a service's map)."""
    return guard(Permission(scope=scope, roles=frozenset(roles)))


class PrincipalSchema(ApiSchema):
    subject = fields.String(required=True)
    client_id = fields.String(required=True)
    kind = fields.String(required=True, metadata={"enum": ["user", "service"]})
    roles = fields.List(fields.String(), required=True)
    scopes = fields.List(fields.String(), required=True)
    permissions = fields.List(fields.String(), required=True, metadata={"description": "held here"})


def _register_me(app: Flask, permissions: Permissions) -> None:
    # Who the token says the caller is and what it may do in this service: for clients checking their
    # wiring, and the proof that the service refuses every wrong token.
    @api_doc(
        "The caller as its access token says, and its permissions here",
        response=PrincipalSchema,
        errors=(400, 401, 403),
        tags=("auth",),
    )
    @guard(Permission(scope=permissions.scope, roles=frozenset()))
    def me() -> Response:
        principal = current_principal()
        return jsonify(
            PrincipalSchema().dump(
                {
                    "subject": principal.subject,
                    "client_id": principal.client_id,
                    "kind": principal.kind,
                    "roles": sorted(principal.roles),
                    "scopes": sorted(principal.scopes),
                    "permissions": permissions.held_by(principal),
                }
            )
        )

    app.add_url_rule(f"/api/{permissions.service}/v1/me", "auth_me", me, methods=["GET"])
