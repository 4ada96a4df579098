"""Helpers for the tests of the portal session: the logout as a browser does it, and what a cookie says."""

from __future__ import annotations

import base64
import binascii
import contextlib
import re
import time
import zlib
from typing import Any
from urllib.parse import parse_qs, urlsplit

from iam_double import ISSUER, FakeIam

LOGOUT_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def log_in(portal: Any, iam: FakeIam, *, expires_in: int = 900, claims: dict[str, Any] | None = None) -> None:
    """The portal's login with IAM's double: Mario Rossi signed in (or whom `claims` changed the ID token's
    claims to), with tokens of `expires_in` seconds."""
    iam.expires_in = expires_in
    response = portal.get("/accedi")
    params = {k: v[0] for k, v in parse_qs(urlsplit(response.location).query).items()}
    now = int(time.time())
    iam.claims = {
        "iss": ISSUER,
        "aud": ["portal"],
        "sub": "9b1d2c1e-0000-4000-8000-000000000001",
        "iat": now,
        "exp": now + 300,
        "nonce": params["nonce"],
        "given_name": "Mario",
        "family_name": "Rossi",
        "preferred_username": "mario.rossi",
        "email": "mario.rossi@example.org",
        "sid": "s-1",
        **(claims or {}),
    }
    assert portal.get(f"/accedi/callback?code=abc&state={params['state']}").status_code == 303


def logout_token(client: Any) -> str:
    """The token of the logout form on the confirmation page (GET /esci)."""
    page = client.get("/esci")
    assert page.status_code == 200, page.status_code
    found = LOGOUT_TOKEN.search(page.get_data(as_text=True))
    assert found, "the confirmation page has no logout token"
    return found.group(1)


def log_out(client: Any) -> Any:
    """ "Esci" as the header's button does it: a POST with the session's logout token."""
    return client.post("/esci", data={"csrf_token": logout_token(client)})


def cookie_readings(value: str) -> list[str]:
    """Everything a cookie value gives away when decoded: the raw value and each dot-separated part
    base64-decoded (and inflated, as Flask's signed cookies compress their JSON)."""
    readings = [value]
    for part in value.lstrip(".").split("."):
        try:
            raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
        except (binascii.Error, ValueError):
            continue
        with contextlib.suppress(zlib.error):
            raw = zlib.decompress(raw)
        readings.append(raw.decode("latin-1"))
    return readings
