"""Schemathesis hooks (loaded by the CLI through SCHEMATHESIS_HOOKS): a fresh IAM access token for each run.

A long run outlives an access token (15 minutes), so the token is fetched again every few minutes:
- POLIS_FUZZ_AUTH=ops: the client-credentials grant of the ops client (POLIS_FUZZ_CLIENT_ID/SECRET);
- POLIS_FUZZ_AUTH=user: the refresh-token grant of the portal client; the rotated refresh token is kept in
  the file POLIS_FUZZ_REFRESH_FILE (the test wrote the first one there after the user's sign-in).
- POLIS_FUZZ_AUTH=cookie: the portal session's cookie (POLIS_FUZZ_COOKIE) instead of any Authorization
  header, as the portal's pages call the gateway's /api/... routes (the gateway attaches the session's
  token); unsafe methods are declared JSON, as the gateway's CSRF defence asks of every such call.
POLIS_FUZZ_TOKEN_URL is IAM's token endpoint. Without POLIS_FUZZ_AUTH no Authorization header is added.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import requests
import schemathesis
from schemathesis.core import NotSet

REFRESH_SECONDS = 240
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _grant(form: dict[str, str]) -> dict[str, Any]:
    response = requests.post(
        os.environ["POLIS_FUZZ_TOKEN_URL"],
        data=form,
        auth=(os.environ["POLIS_FUZZ_CLIENT_ID"], os.environ["POLIS_FUZZ_CLIENT_SECRET"]),
        timeout=30,
    )
    response.raise_for_status()
    return dict(response.json())


@schemathesis.auth(refresh_interval=REFRESH_SECONDS)
class PolisToken:
    def get(self, case: Any, context: Any) -> str | None:
        kind = os.environ.get("POLIS_FUZZ_AUTH")
        if kind == "ops":
            return str(_grant({"grant_type": "client_credentials"})["access_token"])
        if kind == "user":
            stored = Path(os.environ["POLIS_FUZZ_REFRESH_FILE"])
            answer = _grant({"grant_type": "refresh_token", "refresh_token": stored.read_text().strip()})
            stored.write_text(answer["refresh_token"])
            return str(answer["access_token"])
        if kind == "cookie":
            return "cookie"
        return None

    def set(self, case: Any, data: str | None, context: Any) -> None:
        if data == "cookie":
            headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
            headers["Cookie"] = os.environ["POLIS_FUZZ_COOKIE"]
            if case.method.upper() in UNSAFE and isinstance(case.body, NotSet):
                headers["Content-Type"] = "application/json"
            case.headers = headers
        elif data:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}
