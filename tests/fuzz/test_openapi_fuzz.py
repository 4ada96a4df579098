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

import os
import re
from pathlib import Path

import pytest
from fuzz.openapi_fuzzing import Figures, Target, run, table
from iam.demo import DEMO_ACCOUNTS
from support import oidc_tokens
from support.browser import Browser
from support.oidc_tokens import OPS_SECRET, PORTAL_SECRET, session_cookie
from support.stack import SystemStack

pytestmark = pytest.mark.slow

CASES = int(os.environ.get("POLIS_FUZZ_CASES", "3"))
# A regular expression of the targets to run ("iam/ops|istanze/.*"); all of them by default.
ONLY = re.compile(os.environ.get("POLIS_FUZZ_TARGETS", ".*"))
SEED = os.environ.get("POLIS_FUZZ_SEED")
SERVICES = ("iam", "enablement", "istanze", "notifier")
USER = next(account for account in DEMO_ACCOUNTS if account.username == "mario.rossi")
# What the gateway refuses (proxy.internal_only): never sent through it.
GATEWAY_EXCLUDED = r"/ops/|/deliveries"


def sign_in(stack: SystemStack) -> tuple[Browser, dict[str, str]]:
    """mario.rossi signs in to the portal; then the portal client's code flow, in the same browser (IAM's
    single sign-on session answers at once), gives the test its own tokens. The browser and the tokens."""
    return oidc_tokens.sign_in(stack, USER.username, USER.password)


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
