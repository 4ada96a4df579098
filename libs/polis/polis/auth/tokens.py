"""The one verifier of IAM-signed JWTs (access tokens into a Principal; ID and logout tokens into their
claims for the portal); no Flask here. Every service, the gateway and IAM itself use it (issue 12).

What an access token must be (the defaults), checked in this order so that nothing of an unverified token
is trusted:
- a compact JWS whose header names an allowed algorithm (ES256 or RS256: never `none`, never an HMAC,
  whatever key the attacker hopes it is checked with), the type `at+jwt` (an ID token, type `JWT`, is not an
  access token) and the id of a key in IAM's JWKS;
- a valid signature by that key (an EC key for ES256, an RSA key for RS256);
- issued by the configured issuer, for an audience that includes this service (`urn:polis:<service>`), not
  expired, not used before `nbf` nor issued in the future (with a small clock skew either way), naming its
  subject, client and id (`sub`, `client_id`, `jti`).

Another kind of token changes the type (`types`, or None for none checked), the required claims and the
algorithms (a subset of ES256 and RS256: `none` and HMAC can never be configured); the audience may be None
only for IAM itself, whose introspection answers for tokens of every API.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey

from polis.auth.errors import InvalidToken
from polis.auth.keys import JwksCache

ALGORITHMS = ("ES256", "RS256")
ACCESS_TOKEN_TYPES = ("at+jwt", "application/at+jwt")  # RFC 9068 section 2.1; media types are case-blind
ACCESS_TOKEN_CLAIMS = ("sub", "client_id", "jti")
MAX_TOKEN_BYTES = 8192
USER = "user"
SERVICE = "service"


@dataclass(frozen=True)
class Principal:
    """Who is calling, as the verified token says: an end user (through a client) or a service itself."""

    subject: str
    client_id: str
    scopes: frozenset[str]
    roles: frozenset[str]
    kind: str  # USER or SERVICE
    auth_time: int | None
    claims: Mapping[str, Any]

    @property
    def is_user(self) -> bool:
        return self.kind == USER

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any]) -> Principal:
        scope = claims.get("scope")
        roles = claims.get("roles")
        if scope is not None and not isinstance(scope, str):
            raise InvalidToken("The access token's scope claim is malformed.")
        if roles is not None and (not isinstance(roles, list) or not all(isinstance(r, str) for r in roles)):
            raise InvalidToken("The access token's roles claim is malformed.")
        auth_time = claims.get("auth_time")
        # Client credentials: IAM issues the token to the client itself, with sub = client_id and no login.
        is_service = claims["sub"] == claims["client_id"] and auth_time is None
        return cls(
            subject=claims["sub"],
            client_id=claims["client_id"],
            scopes=frozenset((scope or "").split()),
            roles=frozenset(roles or ()),
            kind=SERVICE if is_service else USER,
            auth_time=auth_time if isinstance(auth_time, int) else None,
            claims=dict(claims),
        )


class TokenVerifier:
    """Checks one kind of token (by default IAM's access tokens) for one audience, with keys from a JwksCache.

    `kind` names the token in the refusals ("access token", "ID token"...): they go to the log and, for an
    access token, to the client in the error body."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str | None,
        keys: JwksCache,
        clock_skew: int = 60,
        clock: Callable[[], float] = time.time,
        algorithms: tuple[str, ...] = ALGORITHMS,
        types: tuple[str, ...] | None = ACCESS_TOKEN_TYPES,
        required: tuple[str, ...] = ACCESS_TOKEN_CLAIMS,
        kind: str = "access token",
        check_times: bool = True,
    ) -> None:
        if not algorithms or any(alg not in ALGORITHMS for alg in algorithms):
            # Only asymmetric signatures with pinned key types: never none, never an HMAC.
            raise ValueError(f"algorithms must be among {', '.join(ALGORITHMS)}, not {algorithms!r}")
        self.issuer = issuer.rstrip("/")
        self.audience = audience
        self.keys = keys
        self.clock_skew = clock_skew
        self.algorithms = tuple(algorithms)
        self.types = tuple(t.lower() for t in types) if types is not None else None
        self.required = tuple(required)
        self.kind = kind
        # False only where an expired token is still good for what it proves (IAM's ID token hint at logout,
        # OpenID Connect RP-Initiated Logout 1.0 section 2): signature, issuer, audience, claims still hold.
        self.check_times = check_times
        self._clock = clock

    def verify(self, token: str) -> Principal:
        """The access token's principal; InvalidToken (401) with a reason for the log otherwise."""
        return Principal.from_claims(self.claims(token))

    def claims(self, token: str) -> dict[str, Any]:
        """The token's claims once signature, header and claims are right; InvalidToken otherwise, and
        KeysUnavailable (503) when the issuer's keys could never be fetched."""
        kind = self.kind
        if not token or len(token) > MAX_TOKEN_BYTES or token.count(".") != 2:
            raise InvalidToken(f"The {kind} is not a signed JWT.")
        header = _header(token, kind)
        alg = header.get("alg")
        if alg not in self.algorithms:
            raise InvalidToken(f"The {kind}'s signing algorithm is not accepted.")
        if self.types is not None:
            typ = header.get("typ")
            if not isinstance(typ, str) or typ.lower() not in self.types:
                raise InvalidToken(f"The token is not {_article(kind)} {kind} (typ {self.types[0]}).")
        if "crit" in header:
            raise InvalidToken(f"The {kind} has critical header parameters this service does not know.")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken(f"The {kind} names no signing key.")
        key = self.keys.key(kid)
        if key is None:
            raise InvalidToken(f"The {kind} is signed with a key the issuer does not publish.")
        if (alg == "ES256") != isinstance(key, ECKey) or (alg == "RS256") != isinstance(key, RSAKey):
            raise InvalidToken(f"The {kind}'s algorithm does not match its key.")
        try:
            payload = jws.deserialize_compact(token, key, algorithms=[alg]).payload
            claims = json.loads(payload)
        except (JoseError, ValueError) as error:
            raise InvalidToken(f"The {kind}'s signature is not valid.") from error
        if not isinstance(claims, dict):
            raise InvalidToken(f"The {kind}'s claims are malformed.")
        self._check_claims(claims)
        return claims

    def _check_claims(self, claims: dict[str, Any]) -> None:
        kind = self.kind
        if claims.get("iss") != self.issuer:
            raise InvalidToken(f"The {kind} comes from another issuer.")
        if self.audience is not None:
            audience = claims.get("aud")
            audiences = [audience] if isinstance(audience, str) else audience
            if not isinstance(audiences, list) or self.audience not in audiences:
                raise InvalidToken(f"The {kind} is not meant for this service.")
        if self.check_times:
            self._check_times(claims)
        for name in self.required:
            value = claims.get(name)
            if not isinstance(value, str) or not value:
                raise InvalidToken(f"The {kind} has no {name}.")

    def _check_times(self, claims: dict[str, Any]) -> None:
        kind = self.kind
        now = self._clock()
        exp, iat = _time(claims, "exp", kind), _time(claims, "iat", kind)
        nbf = _time(claims, "nbf", kind) if "nbf" in claims else iat
        if now - self.clock_skew >= exp:
            raise InvalidToken(f"The {kind} has expired.")
        if now + self.clock_skew < max(iat, nbf):
            raise InvalidToken(f"The {kind} is not valid yet.")


def _article(kind: str) -> str:
    return "an" if kind[:1].lower() in "aeiou" else "a"


def _header(token: str, kind: str) -> dict[str, Any]:
    encoded = token.split(".", 1)[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    except (binascii.Error, ValueError) as error:
        raise InvalidToken(f"The {kind}'s header is malformed.") from error
    if not isinstance(header, dict):
        raise InvalidToken(f"The {kind}'s header is malformed.")
    return header


def _time(claims: Mapping[str, Any], name: str, kind: str) -> float:
    value = claims.get(name)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise InvalidToken(f"The {kind}'s times are missing or malformed.")
    return float(value)
