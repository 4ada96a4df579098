"""IAM played by a small real HTTP server: /oidc/token (authorization code and refresh grants, with IAM's
refresh token rotation and reuse detection), /oidc/jwks and /oidc/revoke, signing with its own ES256 key
so that every way a token can be wrong can be tried. tests/test_login_e2e.py runs the real IAM."""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey, OctKey
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

ISSUER = "http://portal.test"


class FakeIam:
    """Records the token and revocation requests; answers with `claims` in the ID token."""

    def __init__(self) -> None:
        self.key = ECKey.generate_key("P-256", private=True, auto_kid=True)
        self.other_key = ECKey.generate_key("P-256", private=True, auto_kid=True)
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.revoked: list[dict[str, Any]] = []
        self.claims: dict[str, Any] = {}
        self.sign_with = "good"
        self.expires_in = 900
        self.refresh_tokens: dict[str, str] = {}  # live refresh token -> family
        self.spent: dict[str, str] = {}  # used refresh token -> family
        self.revoked_families: set[str] = set()
        self.issued: list[str] = []  # access tokens, in order
        self.hold_refresh: threading.Event | None = None  # set by a test to hold refresh grants
        self.refresh_arrived = threading.Event()
        self.down = False  # answer 503 to token requests

    def refresh_grants(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["form"].get("grant_type") == "refresh_token"]

    def id_token(self) -> str:
        if self.sign_with == "none":
            header = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
            body = base64.urlsafe_b64encode(json.dumps(self.claims).encode()).rstrip(b"=").decode()
            return f"{header}.{body}."
        if self.sign_with == "hs256":
            public = json.dumps(self.key.as_dict(private=False)).encode()
            return jwt.encode({"alg": "HS256"}, self.claims, OctKey.import_key(public), algorithms=["HS256"])
        key = self.key if self.sign_with == "good" else self.other_key
        return jwt.encode({"alg": "ES256", "kid": key.kid}, self.claims, key, algorithms=["ES256"])

    def access_token(self) -> str:
        """Shaped like IAM's (RFC 9068), so the session cookie has its real size."""
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": "9b1d2c1e-0000-4000-8000-000000000001",
            "aud": ["urn:polis:iam", "urn:polis:enablement", "urn:polis:istanze"],
            "client_id": "portal",
            "scope": "openid profile email iam enablement istanze",
            "iat": now,
            "exp": now + self.expires_in,
            "jti": secrets.token_urlsafe(16),
            "auth_time": now,
            "sid": secrets.token_urlsafe(16),
            "roles": ["user"],
        }
        token = jwt.encode(
            {"alg": "ES256", "kid": self.key.kid, "typ": "at+jwt"}, claims, self.key, algorithms=["ES256"]
        )
        self.issued.append(token)
        return token

    def new_refresh_token(self, family: str) -> str:
        token = secrets.token_urlsafe(32)
        self.refresh_tokens[token] = family
        return token

    def token_response(self, family: str, *, id_token: bool) -> dict[str, Any]:
        body = {
            "access_token": self.access_token(),
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "refresh_token": self.new_refresh_token(family),
        }
        if id_token:
            body["id_token"] = self.id_token()
        return body

    def refresh(self, token: str) -> tuple[int, dict[str, Any]]:
        with self.lock:
            if token in self.spent:  # reuse: IAM revokes the whole family
                family = self.spent[token]
                self.revoked_families.add(family)
                for live, fam in list(self.refresh_tokens.items()):
                    if fam == family:
                        del self.refresh_tokens[live]
                return 400, {"error": "invalid_grant", "error_description": "refresh token reused"}
            family = self.refresh_tokens.pop(token, None)
            if family is None or family in self.revoked_families:
                return 400, {"error": "invalid_grant"}
            self.spent[token] = family
            return 200, self.token_response(family, id_token=False)

    @Request.application
    def app(self, request: Request) -> Response:
        if request.path == "/oidc/jwks":
            body = {"keys": [{**self.key.as_dict(private=False), "kid": self.key.kid, "alg": "ES256"}]}
            return Response(json.dumps(body), content_type="application/json")
        if request.path == "/oidc/revoke":
            self.revoked.append(
                {"form": dict(request.form), "authorization": request.headers.get("Authorization")}
            )
            family = self.refresh_tokens.pop(request.form.get("token", ""), None)
            if family:
                self.revoked_families.add(family)
            return Response("", status=200)
        if request.path == "/oidc/token":
            form = dict(request.form)
            self.requests.append({"form": form, "authorization": request.headers.get("Authorization")})
            if self.down:
                return Response(
                    '{"error": "temporarily_unavailable"}', status=503, content_type="application/json"
                )
            if form.get("grant_type") == "refresh_token":
                self.refresh_arrived.set()
                if self.hold_refresh is not None:
                    self.hold_refresh.wait(10)
                status, body = self.refresh(form.get("refresh_token", ""))
                return Response(json.dumps(body), status=status, content_type="application/json")
            body = self.token_response(secrets.token_hex(8), id_token=True)
            return Response(json.dumps(body), content_type="application/json")
        return Response("{}", status=404, content_type="application/json")
