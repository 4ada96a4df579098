"""Checks of a back-channel logout token (OpenID Connect Back-Channel Logout 1.0, section 2.6).

IAM posts a signed JWT naming the user (`sub`) and IAM's session (`sid`) that ended. Anyone can post to the
endpoint, so the app believes it only once it is signed by one of IAM's keys (the JWKS, fetched again when a
key id is unknown: IAM rotates its keys), is addressed to this client, is a logout token and not an ID token
(typ, the events claim, no nonce), and is recent.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
# Pinned: never "none", never a symmetric algorithm (an HS256 "signed" with IAM's public key).
ALGORITHMS = ("ES256", "RS256")
TOKEN_TYPES = ("logout+jwt", "application/logout+jwt")
MAX_AGE_SECONDS = 300  # a logout token older than this is refused (IAM's are valid for two minutes)
LEEWAY_SECONDS = 60  # clock difference tolerated between IAM and this app
MAX_TOKEN_LENGTH = 8192

# Returns IAM's keys; force=True fetches them again (an unknown key id: IAM may have rotated).
KeySource = Callable[[bool], KeySet]


class InvalidLogoutToken(ValueError):
    """The token is not a valid logout token for this client; the message says why (safe to log)."""


@dataclass(frozen=True)
class LogoutRequest:
    """Whom to log out: IAM's session id and/or the user's subject."""

    sub: str | None
    sid: str | None


def verify(
    token: str, *, keys: KeySource, issuer: str, client_id: str, now: float | None = None
) -> LogoutRequest:
    """The logout token's subject and session once every check of section 2.6 passes."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise InvalidLogoutToken("missing or oversized logout_token")
    decoded = _decode(token, keys)
    if str(decoded.header.get("typ", "")).lower() not in TOKEN_TYPES:
        raise InvalidLogoutToken("typ is not logout+jwt")
    claims: dict[str, Any] = dict(decoded.claims)
    _check_claims(claims, issuer=issuer, client_id=client_id, now=time.time() if now is None else now)
    sub, sid = claims.get("sub"), claims.get("sid")
    return LogoutRequest(sub=str(sub) if sub else None, sid=str(sid) if sid else None)


def _decode(token: str, keys: KeySource) -> jwt.Token:
    try:
        try:
            return jwt.decode(token, keys(False), algorithms=list(ALGORITHMS))
        except InvalidKeyIdError:
            return jwt.decode(token, keys(True), algorithms=list(ALGORITHMS))
    except (JoseError, ValueError) as error:
        raise InvalidLogoutToken(f"not a JWT signed by the issuer: {type(error).__name__}") from None


def _check_claims(claims: dict[str, Any], *, issuer: str, client_id: str, now: float) -> None:
    if claims.get("iss") != issuer:
        raise InvalidLogoutToken("wrong issuer")
    audiences = claims.get("aud")
    audiences = [audiences] if isinstance(audiences, str) else audiences
    if not isinstance(audiences, list) or client_id not in audiences:
        raise InvalidLogoutToken("not addressed to this client")
    issued_at = claims.get("iat")
    if not isinstance(issued_at, int | float) or isinstance(issued_at, bool):
        raise InvalidLogoutToken("iat missing")
    if issued_at > now + LEEWAY_SECONDS or issued_at < now - MAX_AGE_SECONDS - LEEWAY_SECONDS:
        raise InvalidLogoutToken("iat is not recent")
    expires = claims.get("exp")
    if expires is not None and (not isinstance(expires, int | float) or expires < now - LEEWAY_SECONDS):
        raise InvalidLogoutToken("expired")
    events = claims.get("events")
    if not isinstance(events, dict) or not isinstance(events.get(BACKCHANNEL_EVENT), dict):
        raise InvalidLogoutToken("no back-channel logout event")
    if "nonce" in claims:
        raise InvalidLogoutToken("a nonce: this is an ID token, not a logout token")
    sub, sid = claims.get("sub"), claims.get("sid")
    if not sub and not sid:
        raise InvalidLogoutToken("neither sub nor sid")
    if any(value is not None and not isinstance(value, str) for value in (sub, sid)):
        raise InvalidLogoutToken("sub and sid must be strings")
