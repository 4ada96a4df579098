"""IAM's side of a login played cheaply, for measuring the gateway alone (login_cpu.py): /oidc/authorize
answering with the login form (an HTML page with the layout's account part, like IAM's), its POST answering
with the code for the portal's redirect URI (IAM's flow since the two empty round trips went, issue 18),
/oidc/token (an ES256 ID token) and /oidc/jwks. No password check, no database: run by gunicorn as
fake_iam:app, FAKE_ISSUER set to the gateway's address."""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from html import escape
from urllib.parse import parse_qs, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import ECKey
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

KEY = ECKey.generate_key("P-256", private=True, auto_kid=True)
ISSUER = os.environ.get("FAKE_ISSUER", "http://127.0.0.1")
PAGE = (
    '<!doctype html><html lang="it"><head><title>Accedi</title></head><body><header>'
    '<!--polis:account--><a href="/accedi">Accedi</a><!--/polis:account--></header>'
    '<form method="post" action="/iam/accedi"><input name="csrf_token" value="fake">'
    '<input type="hidden" name="next" value="{next}"></form>' + "x" * 6000 + "</body></html>"
)
JSON = {"Content-Type": "application/json", "Cache-Control": "no-store"}
_codes: dict[str, str | None] = {}
_lock = threading.Lock()


def _signed(claims: dict) -> str:
    return jwt.encode({"alg": "ES256", "kid": KEY.kid, "typ": "JWT"}, claims, KEY, algorithms=["ES256"])


def _tokens(code: str | None) -> Response:
    with _lock:
        nonce = _codes.pop(code or "", None)
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": "portal",
        "sub": "u1",
        "nonce": nonce,
        "iat": now,
        "exp": now + 300,
        "sid": secrets.token_urlsafe(8),
        "preferred_username": "bench.user",
        "given_name": "Bench",
        "family_name": "User",
        "email": "bench@example.org",
    }
    body = {
        "access_token": _signed({"iss": ISSUER, "sub": "u1", "exp": now + 900}),
        "token_type": "Bearer",
        "expires_in": 900,
        "id_token": _signed(claims),
        "refresh_token": secrets.token_urlsafe(32),
    }
    return Response(json.dumps(body), 200, JSON)


@Request.application
def app(request: Request) -> Response:
    path = request.path
    if path == "/oidc/authorize":  # the login form in the endpoint's answer, its next the request (issue 18)
        after = f"/oidc/authorize?{request.query_string.decode()}"
        page = PAGE.format(next=escape(after))
        headers = {"Content-Type": "text/html; charset=utf-8", "Set-Cookie": "iam_csrf=x; Path=/; HttpOnly"}
        return Response(page, 200, headers)
    if path == "/iam/accedi" and request.method == "POST":  # the code, straight from the login
        query = parse_qs(urlsplit(request.form["next"]).query)
        code = secrets.token_urlsafe(32)
        with _lock:
            _codes[code] = query["nonce"][0]
        target = f"{query['redirect_uri'][0]}?{urlencode({'code': code, 'state': query['state'][0]})}"
        answer = redirect(target, 303)
        answer.headers.add("Set-Cookie", f"iam_sid={secrets.token_urlsafe(16)}; Path=/; HttpOnly")
        return answer
    if path == "/oidc/token":
        return _tokens(request.form.get("code"))
    if path == "/oidc/jwks":
        return Response(json.dumps({"keys": [KEY.as_dict(private=False)]}), 200, JSON)
    return Response("not here", 404)
