"""Fuzzing every service's OpenAPI document with schemathesis (issue 17, item 2), on real processes.

The whole stack runs (tests/support/stack.py). Each service is fuzzed directly on its own port with no
token, with the ops client's token (client credentials) and with a user's token (mario.rossi, through the
portal client's code + PKCE flow), and the gateway's public /api/<service>/... routes with the user's
portal session cookie (the gateway refuses ops paths, deliveries and documents: they are left out there).

Goals (every target): 0 responses with status 5xx, 0 responses that break their documented schema (status,
content type, body), 0 schema-valid requests refused as malformed; the stateful phase follows the
documents' links. The budget is POLIS_FUZZ_CASES cases per operation and phase: `make test` uses the small
default, `make fuzz` 200 (and prints the figures table; POLIS_FUZZ_REPORT=path writes it to a file too);
POLIS_FUZZ_TARGETS=regex runs only the targets it names (e.g. "iam/ops").
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

import pytest
from fuzz.openapi_fuzzing import Figures, Target, run, table
from iam.demo import DEMO_ACCOUNTS
from support.browser import CSRF, Browser
from support.stack import SystemStack

pytestmark = pytest.mark.slow

CASES = int(os.environ.get("POLIS_FUZZ_CASES", "3"))
# A regular expression of the targets to run ("iam/ops|istanze/.*"); all of them by default.
ONLY = re.compile(os.environ.get("POLIS_FUZZ_TARGETS", ".*"))
SEED = os.environ.get("POLIS_FUZZ_SEED")
SERVICES = ("iam", "enablement", "istanze", "notifier")
PORTAL_SECRET = "dev-only-portal-client-secret"
OPS_SECRET = "dev-only-polis-ops-client-secret"
USER = next(account for account in DEMO_ACCOUNTS if account.username == "mario.rossi")
SCOPE = "openid profile email iam enablement istanze"
# What the gateway refuses (proxy.internal_only): never sent through it.
GATEWAY_EXCLUDED = r"/ops/|/deliveries"


def sign_in(stack: SystemStack) -> tuple[Browser, dict[str, str]]:
    """mario.rossi signs in to the portal; then the portal client's code flow, in the same browser (IAM's
    single sign-on session answers at once), gives the test its own tokens. The browser and the tokens."""
    browser = Browser(stack.url())
    status, url, page = browser.go("/accedi")
    assert status == 200 and "/iam/accedi" in url, (status, url, page[:500])
    next_path = page.split('name="next" value="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    form = {"username": USER.username, "password": USER.password, "next": next_path}
    status, url, page = browser.go("/iam/accedi", {**form, "csrf_token": CSRF.search(page).group(1)})  # type: ignore[union-attr]
    assert status == 200, (status, url, browser.trail, page[:500])

    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    redirect_uri = stack.url("/accedi/callback")
    query = urllib.parse.urlencode(
        {
            "response_type": "code",
            "client_id": "portal",
            "redirect_uri": redirect_uri,
            "scope": SCOPE,
            "state": secrets.token_urlsafe(16),
            "nonce": secrets.token_urlsafe(16),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    status, location, page = browser.request(f"/oidc/authorize?{query}")
    assert status in (302, 303) and location.startswith(redirect_uri), (status, location, page[:500])
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)["code"][0]
    tokens = token_grant(
        stack,
        "portal",
        PORTAL_SECRET,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        },
    )
    return browser, tokens


def token_grant(stack: SystemStack, client_id: str, secret: str, form: dict[str, str]) -> dict[str, str]:
    credentials = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    request = urllib.request.Request(  # noqa: S310 - the local stack
        stack.url("/oidc/token"),
        data=urllib.parse.urlencode(form).encode(),
        headers={"Authorization": f"Basic {credentials}"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
        return dict(json.load(answer))


def session_cookie(browser: Browser) -> str:
    """The portal session's cookies as one Cookie header value."""
    jars = [
        handler.cookiejar
        for handler in browser.opener.handlers
        if isinstance(getattr(handler, "cookiejar", None), CookieJar)
    ]
    return "; ".join(f"{cookie.name}={cookie.value}" for cookie in jars[0])


def targets(stack: SystemStack) -> list[Target]:
    found: list[Target] = []
    for service in SERVICES:
        document = stack.api(service, "/openapi.json")
        direct = stack.api(service, "")
        found.append(Target(f"{service}/anonymous", service, document, direct))
        found.append(Target(f"{service}/user", service, document, direct, auth="user"))
        found.append(
            Target(
                f"{service}/gateway",
                service,
                document,
                stack.url(""),
                auth="cookie",
                exclude_path_regex=GATEWAY_EXCLUDED,
                # The documents' links lead to ops operations, which the gateway does not serve.
                stateful=False,
            )
        )
    # The ops runs last: they change what the user's runs read (clients, rounds, procedures); IAM's last of
    # all, as it rotates signing keys and rewrites clients.
    for service in (*SERVICES[1:], SERVICES[0]):
        found.append(
            Target(
                f"{service}/ops",
                service,
                stack.api(service, "/openapi.json"),
                stack.api(service, ""),
                auth="ops",
            )
        )
    return found


def test_every_document_holds_under_fuzzing(stack_factory: object, tmp_path: Path) -> None:
    stack: SystemStack = stack_factory(  # type: ignore[operator]
        # The limits are the gateway's own answers (tested in gateway/tests), not the services'.
        env={"GATEWAY_RATELIMIT_ENABLED": "false"},
    )
    browser, tokens = sign_in(stack)
    refresh_file = tmp_path / "refresh-token"
    refresh_file.write_text(tokens["refresh_token"])
    cookie = session_cookie(browser)

    results: list[Figures] = []
    for target in (t for t in targets(stack) if ONLY.fullmatch(t.name)):
        secret = OPS_SECRET if target.auth == "ops" else PORTAL_SECRET
        env = {
            "POLIS_FUZZ_TOKEN_URL": stack.url("/oidc/token"),
            "POLIS_FUZZ_CLIENT_ID": "polis-ops" if target.auth == "ops" else "portal",
            "POLIS_FUZZ_CLIENT_SECRET": secret,
            "POLIS_FUZZ_REFRESH_FILE": str(refresh_file),
            "POLIS_FUZZ_COOKIE": cookie,
        }
        results.append(
            run(
                target,
                cases=CASES,
                report_dir=tmp_path / "reports",
                env=env,
                seed=int(SEED) if SEED else None,
            )
        )

    figures = table(results)
    print(f"\nschemathesis, {CASES} cases per operation and phase\n{figures}")
    if os.environ.get("POLIS_FUZZ_REPORT"):
        Path(os.environ["POLIS_FUZZ_REPORT"]).write_text(figures + "\n")
    broken = [f for f in results if f.server_errors or f.failures or f.errors]
    assert not broken, "\n".join(f.describe_failures() for f in broken) + "\n" + figures
    assert results and all(f.operations > 0 for f in results), figures
