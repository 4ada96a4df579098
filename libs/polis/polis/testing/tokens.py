"""A stand-in for IAM in tests: signing keys, their JWKS, and access tokens shaped like IAM's (RFC 9068).

Tests of a service mint tokens here instead of running IAM, and can mint every wrong one (another
audience, expired, `alg: none`, HS256 with the public key as secret, an unpublished key, an ID token).
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey, OctKey, RSAKey

ISSUER = "http://issuer.test"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TestIssuer:
    """ES256 and RS256 keys (published) plus one key IAM never published."""

    __test__ = False  # not a pytest test class, whatever its name

    def __init__(self, issuer: str = ISSUER) -> None:
        self.issuer = issuer
        self.ec = ECKey.generate_key("P-256", private=True, auto_kid=True)
        self.rsa = RSAKey.generate_key(2048, private=True, auto_kid=True)
        self.unpublished = ECKey.generate_key("P-256", private=True, auto_kid=True)

    def jwks(self) -> dict[str, Any]:
        return {
            "keys": [
                {**self.ec.as_dict(private=False), "use": "sig", "alg": "ES256"},
                {**self.rsa.as_dict(private=False), "use": "sig", "alg": "RS256"},
            ]
        }

    def app_settings(self, audience: str, *, jwks: Any = None) -> dict[str, Any]:
        """The TOKEN_* settings (polis.auth.web) of an app that trusts this issuer for `audience`; its keys
        are given (this JWKS, or `jwks`: a document or a callable), never fetched."""
        return {
            "TOKEN_ISSUER": self.issuer,
            "TOKEN_AUDIENCE": audience,
            "TOKEN_JWKS": jwks if jwks is not None else self.jwks(),
            "TOKEN_JWKS_URL": "http://unused.invalid/oidc/jwks",
            "TOKEN_JWKS_TIMEOUT": 1.0,
            "TOKEN_JWKS_MAX_AGE": 300.0,
            "TOKEN_JWKS_MIN_REFRESH": 30.0,
            "TOKEN_CLOCK_SKEW": 60,
        }

    def claims(self, *, audience: str | list[str], **changes: Any) -> dict[str, Any]:
        """A user's access token claims; `changes` override them (None removes a claim)."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": "3f7c1b9e-5a1d-4c1e-9a44-000000000001",
            "aud": [audience] if isinstance(audience, str) else audience,
            "client_id": "portal",
            "scope": "openid profile email iam enablement istanze",
            "iat": now,
            "exp": now + 900,
            "jti": uuid.uuid4().hex,
            "auth_time": now - 5,
            "sid": "sso-1",
            "roles": ["user"],
        }
        claims.update(changes)
        return {name: value for name, value in claims.items() if value is not None}

    def sign(
        self, claims: dict[str, Any], *, alg: str = "ES256", typ: str | None = "at+jwt", **header: Any
    ) -> str:
        """Sign like IAM; alg "none" and "HS256" (secret: the published EC key's JSON) make the forgeries."""
        head: dict[str, Any] = {"alg": alg, **({"typ": typ} if typ else {})}
        if alg == "none":
            head.update(header)
            return f"{_b64(json.dumps(head).encode())}.{_b64(json.dumps(claims).encode())}."
        if alg == "HS256":
            public = json.dumps(self.ec.as_dict(private=False)).encode()
            head.setdefault("kid", self.ec.kid)
            head.update(header)
            return jwt.encode(head, claims, OctKey.import_key(public), algorithms=["HS256"])
        key: ECKey | RSAKey = self.ec if alg == "ES256" else self.rsa
        head["kid"] = key.kid
        head.update(header)
        return jwt.encode(head, claims, key, algorithms=[alg])

    def token(self, *, audience: str | list[str], alg: str = "ES256", **changes: Any) -> str:
        return self.sign(self.claims(audience=audience, **changes), alg=alg)

    def ops_token(self, service: str) -> str:
        """The ops tool's client-credentials token for `service` (no user, no sign-in; the ops role)."""
        return self.token(
            audience=f"urn:polis:{service}",
            sub="ops-tool",
            client_id="ops-tool",
            auth_time=None,
            scope=service,
            roles=["ops"],
        )

    def unpublished_token(self, *, audience: str) -> str:
        """Signed by a key the JWKS does not list (a forger's, or one rotated out long ago)."""
        head = {"alg": "ES256", "typ": "at+jwt", "kid": self.unpublished.kid}
        return jwt.encode(head, self.claims(audience=audience), self.unpublished, algorithms=["ES256"])
