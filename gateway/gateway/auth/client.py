"""The relying-party side: authorization request with PKCE, state and nonce; code exchange straight to IAM
(server to server, never through the gateway itself); ID and logout token validation against IAM's JWKS
(polis.auth's TokenVerifier and JwksCache, the ones every service uses); the refresh grant and token
revocation (RFC 7009) for the access token the portal forwards to the services' APIs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from polis.auth import InvalidToken, JwksCache, KeysUnavailable, TokenVerifier, http_jwks

from gateway.api.connections import ConnectionPools, Origin, UpstreamTimeout, UpstreamUnreachable

ALGORITHMS = ("ES256",)
LOGOUT_ALGORITHMS = ("ES256", "RS256")  # as IAM signs for the client (its id_token_alg)
LOGOUT_TYPES = ("logout+jwt", "application/logout+jwt")
# The identity the portal shows, and the APIs it calls for the user (their access token's audiences and
# scopes). fiscal_number is not asked for: the portal does not show the codice fiscale.
SCOPE = "openid profile email iam enablement istanze"
LEEWAY = 60  # seconds of clock difference tolerated between IAM and the gateway
JWKS_MIN_REFRESH = 30.0  # an unknown kid refreshes the keys at most this often


class Unreachable(Exception):
    """IAM could not be reached or did not answer in time."""


# The gateway's own lean keep-alive client (gateway/api/connections.py, the one that forwards the pages):
# per-thread connections, one send per request. One set of pools per timeout setting.
_pools: dict[tuple[float, float, float], ConnectionPools] = {}
_pools_lock = threading.Lock()


def _pools_for(rp: RelyingParty) -> ConnectionPools:
    key = (rp.connect_timeout, rp.read_timeout, rp.max_idle_seconds)
    pools = _pools.get(key)
    if pools is None:
        with _pools_lock:
            pools = _pools.setdefault(
                key,
                ConnectionPools(
                    connect_timeout=rp.connect_timeout,
                    read_timeout=rp.read_timeout,
                    max_idle_seconds=rp.max_idle_seconds,
                ),
            )
    return pools


def _send(
    rp: RelyingParty, method: str, path: str, headers: dict[str, str], body: bytes | None
) -> tuple[int, bytes]:
    """One request to IAM's internal address; raises Unreachable when it does not answer."""
    pools = _pools_for(rp)
    origin = Origin.parse(rp.internal_url)
    target = urlsplit(rp.internal_url).path.rstrip("/") + path
    try:
        answer = pools.request(origin, method, target, headers, body)
        payload = answer.read()
    except (UpstreamTimeout, UpstreamUnreachable, OSError) as error:
        raise Unreachable(type(error).__name__) from None
    pools.release(answer, reusable=True)
    return answer.status, payload


class LoginFailed(Exception):
    """The login (or a token request) could not be completed; `reason` is for the log, never shown as is to
    the user; `error` is the OAuth error code when IAM answered with one."""

    def __init__(self, reason: str, error: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.error = error


class RefreshRefused(LoginFailed):
    """IAM no longer honours the refresh token (invalid_grant: expired, revoked, or the session ended)."""


@dataclass(frozen=True)
class RelyingParty:
    client_id: str
    client_secret: str
    issuer: str  # public: what the browser sees and the ID tokens carry
    internal_url: str  # IAM as the gateway reaches it
    connect_timeout: float
    read_timeout: float
    max_idle_seconds: float = 1.5  # a kept-alive connection idle longer is not reused (gunicorn closes it)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], issuer: str) -> RelyingParty:
        return cls(
            client_id=settings["GATEWAY_OIDC_CLIENT_ID"],
            client_secret=settings["GATEWAY_OIDC_CLIENT_SECRET"].reveal(),
            issuer=issuer,
            internal_url=settings["GATEWAY_SERVICES"]["iam"],
            connect_timeout=settings["GATEWAY_CONNECT_TIMEOUT"],
            read_timeout=settings["GATEWAY_READ_TIMEOUT"],
            max_idle_seconds=settings.get("GATEWAY_UPSTREAM_MAX_IDLE", 1.5),
        )


@dataclass(frozen=True)
class Pending:
    """What the gateway remembers between the redirect to IAM and the callback (in its session)."""

    state: str
    nonce: str
    verifier: str
    next: str

    @classmethod
    def new(cls, next_path: str) -> Pending:
        return cls(
            state=secrets.token_urlsafe(24),
            nonce=secrets.token_urlsafe(24),
            verifier=secrets.token_urlsafe(48),
            next=next_path,
        )

    def as_dict(self) -> dict[str, str]:
        return {"state": self.state, "nonce": self.nonce, "verifier": self.verifier, "next": self.next}


def challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorization_url(rp: RelyingParty, pending: Pending, redirect_uri: str) -> str:
    params = {
        "response_type": "code",
        "client_id": rp.client_id,
        "redirect_uri": redirect_uri,
        "scope": SCOPE,
        "state": pending.state,
        "nonce": pending.nonce,
        "code_challenge": challenge(pending.verifier),
        "code_challenge_method": "S256",
    }
    return f"{rp.issuer}/oidc/authorize?{urlencode(params)}"


def end_session_url(rp: RelyingParty, id_token: str | None, post_logout_redirect_uri: str) -> str:
    params = {"client_id": rp.client_id, "post_logout_redirect_uri": post_logout_redirect_uri}
    if id_token:
        params["id_token_hint"] = id_token
    return f"{rp.issuer}/oidc/logout?{urlencode(params)}"


def _client_post(
    rp: RelyingParty, path: str, form: dict[str, str], request_id: str | None
) -> tuple[int, bytes]:
    """A form POST to IAM authenticated as the portal (client_secret_basic)."""
    basic = base64.b64encode(f"{rp.client_id}:{rp.client_secret}".encode()).decode()
    headers = {
        "Authorization": f"Basic {basic}",
        "Content-Type": "application/x-www-form-urlencoded",
        "Accept": "application/json",
    }
    if request_id:
        headers["X-Request-ID"] = request_id
    return _send(rp, "POST", path, headers, urlencode(form).encode())


def _post_form(rp: RelyingParty, path: str, form: dict[str, str], request_id: str | None) -> dict[str, Any]:
    try:
        status, body = _client_post(rp, path, form, request_id)
    except Unreachable as error:
        raise LoginFailed(f"token endpoint unreachable: {error}") from None
    try:
        payload = json.loads(body)
    except ValueError:
        raise LoginFailed(f"token endpoint answered {status} without JSON") from None
    if not isinstance(payload, dict):
        raise LoginFailed(f"token endpoint answered {status} with no JSON object")
    if status != 200:
        code = str(payload.get("error"))
        failure = (
            RefreshRefused
            if code == "invalid_grant" and form.get("grant_type") == "refresh_token"
            else LoginFailed
        )
        raise failure(f"token endpoint answered {status}: {code}", code)
    return payload


def exchange_code(
    rp: RelyingParty, *, code: str, verifier: str, redirect_uri: str, request_id: str | None
) -> dict[str, Any]:
    """The token response for an authorization code (with the PKCE verifier)."""
    return _post_form(
        rp,
        "/oidc/token",
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        },
        request_id,
    )


def refresh_tokens(rp: RelyingParty, *, refresh_token: str, request_id: str | None) -> dict[str, Any]:
    """A new token response for the refresh token, which IAM rotates: never send the same one twice (a
    reused refresh token revokes its whole family). RefreshRefused when IAM says invalid_grant."""
    return _post_form(
        rp, "/oidc/token", {"grant_type": "refresh_token", "refresh_token": refresh_token}, request_id
    )


def revoke(rp: RelyingParty, *, token: str, hint: str, request_id: str | None) -> bool:
    """RFC 7009 revocation of the portal's own token; best effort (logout goes on whatever happens)."""
    try:
        status, _body = _client_post(
            rp, "/oidc/revoke", {"token": token, "token_type_hint": hint}, request_id
        )
    except Unreachable:
        return False
    return status == 200


# IAM's keys, one cache per IAM address (gunicorn threads share it); an unknown kid refreshes it at most
# every JWKS_MIN_REFRESH seconds.
_key_caches: dict[str, JwksCache] = {}
_key_caches_lock = threading.Lock()


def iam_keys(rp: RelyingParty) -> JwksCache:
    with _key_caches_lock:
        cache = _key_caches.get(rp.internal_url)
        if cache is None:
            source = http_jwks(rp.internal_url.rstrip("/") + "/oidc/jwks", timeout=rp.read_timeout)
            cache = _key_caches[rp.internal_url] = JwksCache(source, min_refresh_interval=JWKS_MIN_REFRESH)
        return cache


def _verified(token: str, verifier: TokenVerifier) -> dict[str, Any]:
    try:
        return verifier.claims(token)
    except KeysUnavailable:
        raise LoginFailed("JWKS unavailable") from None
    except InvalidToken as error:
        raise LoginFailed(f"{verifier.kind} refused: {error.message}") from None


def validate_id_token(rp: RelyingParty, id_token: str, *, nonce: str) -> dict[str, Any]:
    """The ID token's claims once signature (ES256 only), issuer, audience, expiry and nonce are right."""
    verifier = TokenVerifier(
        issuer=rp.issuer,
        audience=rp.client_id,
        keys=iam_keys(rp),
        clock_skew=LEEWAY,
        algorithms=ALGORITHMS,
        types=None,  # IAM types them JWT; OpenID Connect asks for no type
        required=("sub", "nonce"),
        kind="ID token",
    )
    claims = _verified(id_token, verifier)
    if not hmac.compare_digest(str(claims["nonce"]).encode(), nonce.encode()):
        raise LoginFailed("ID token refused: nonce")
    audiences = claims.get("aud")
    audiences = [audiences] if isinstance(audiences, str) else list(audiences or [])
    if len(audiences) > 1 and claims.get("azp") not in (None, rp.client_id):
        raise LoginFailed("ID token refused: wrong authorized party")
    return claims


BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_TOKEN_MAX_AGE = 300  # seconds: an older logout token is refused (a replay, or a clock far off)


def validate_logout_token(rp: RelyingParty, logout_token: str) -> dict[str, Any]:
    """The claims of a back-channel logout token (OpenID Connect Back-Channel Logout 1.0, 2.6): signed by
    IAM, typ logout+jwt, for this client, recent, carrying the logout event and a sid, and no nonce."""
    verifier = TokenVerifier(
        issuer=rp.issuer,
        audience=rp.client_id,
        keys=iam_keys(rp),
        clock_skew=LEEWAY,
        algorithms=LOGOUT_ALGORITHMS,
        types=LOGOUT_TYPES,
        required=("sid",),
        kind="logout token",
    )
    claims = _verified(logout_token, verifier)
    events = claims.get("events")
    if not isinstance(events, dict) or BACKCHANNEL_EVENT not in events or "nonce" in claims:
        raise LoginFailed("logout token refused: not a logout event")
    if time.time() - float(claims["iat"]) > LOGOUT_TOKEN_MAX_AGE:
        raise LoginFailed("logout token refused: too old")
    return claims
