"""The portal as OpenID Connect client (gateway/auth): /accedi starts the code flow with PKCE, state and
nonce; the callback exchanges the code straight with IAM and validates the ID token (D-ENA-1, D-ACC-4).

IAM is played by a small real HTTP server (tests/iam_double.py) that signs ID tokens with its own ES256
key, so that every way a token can be wrong is tried; tests/test_login_e2e.py runs the real IAM."""

from __future__ import annotations

import base64
import hashlib
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from iam_double import ISSUER, FakeIam
from session_support import log_out

from gateway import create_app

SECRET = "portal-secret-for-tests"


@pytest.fixture
def portal(monkeypatch: pytest.MonkeyPatch, iam: FakeIam) -> Any:
    monkeypatch.setenv("POLIS_ENV", "test")
    iam.reset()
    app = create_app(
        {
            "GATEWAY_SERVICES": {"iam": iam.url},
            "GATEWAY_OIDC_ISSUER": ISSUER,
            "GATEWAY_OIDC_CLIENT_SECRET": _secret(SECRET),
            "RATELIMIT_ENABLED": False,
        }
    )
    return app.test_client()


def _secret(value: str) -> Any:
    from polis.config import Secret

    return Secret(value)


def start(portal: Any, next_path: str | None = None) -> dict[str, str]:
    response = portal.get("/accedi" + (f"?next={next_path}" if next_path else ""))
    assert response.status_code == 303
    parts = urlsplit(response.location)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{ISSUER}/oidc/authorize"
    return {key: values[0] for key, values in parse_qs(parts.query).items()}


def good_claims(iam: FakeIam, expected_nonce: str, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": ["portal"],
        "sub": "9b1d2c1e-0000-4000-8000-000000000001",
        "iat": now,
        "exp": now + 300,
        "nonce": expected_nonce,
        "given_name": "Mario",
        "family_name": "Rossi",
        "preferred_username": "mario.rossi",
        "sid": "s-1",
    }
    claims.update(changes)
    return {key: value for key, value in claims.items() if value is not None}


def test_accedi_starts_the_code_flow_with_pkce_state_and_nonce(portal: Any) -> None:
    """D-ENA-1: not logged in -> the login page (IAM's, through the authorization endpoint)."""
    params = start(portal)

    assert params["response_type"] == "code"
    assert params["client_id"] == "portal"
    assert params["redirect_uri"] == f"{ISSUER}/accedi/callback"
    # Issue 5 item 5: the portal also asks for the APIs it calls for the user (not fiscal_number: unused).
    assert params["scope"] == "openid profile email iam enablement istanze"
    assert params["code_challenge_method"] == "S256"
    assert len(params["code_challenge"]) == 43
    assert len(params["state"]) >= 32 and len(params["nonce"]) >= 32


def test_the_callback_exchanges_the_code_directly_with_iam_and_opens_the_session(
    portal: Any, iam: FakeIam
) -> None:
    params = start(portal, "/area-personale")
    iam.claims = good_claims(iam, params["nonce"])

    response = portal.get(f"/accedi/callback?code=abc&state={params['state']}")

    assert response.status_code == 303
    assert response.location == "/area-personale"
    [sent] = iam.requests
    assert sent["form"]["grant_type"] == "authorization_code"
    assert sent["form"]["code"] == "abc"
    assert sent["form"]["redirect_uri"] == f"{ISSUER}/accedi/callback"
    verifier = sent["form"]["code_verifier"]
    digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert digest == params["code_challenge"]
    assert sent["authorization"] == "Basic " + base64.b64encode(f"portal:{SECRET}".encode()).decode()
    home = portal.get("/area-personale")
    assert home.status_code == 200
    assert "Mario Rossi" in home.get_data(as_text=True)
    assert 'href="/iam/area-riservata"' in home.get_data(as_text=True)
    assert 'href="/abilitazione/"' in home.get_data(as_text=True)  # D-ENA-1: on to the enablement
    assert home.headers["Cache-Control"] == "no-store"  # personal: kept by no cache (issue 11 item 6)


def test_accedi_lands_where_the_enablement_decides(portal: Any, iam: FakeIam) -> None:
    """D-ENA-1: after the login, and on "Accedi" when logged in, the portal lands on /abilitazione/, which
    sends on to the request, the mandatory change of the temporary code or (enabled) the personal home."""
    params = start(portal)
    iam.claims = good_claims(iam, params["nonce"])
    landed = portal.get(f"/accedi/callback?code=abc&state={params['state']}")

    response = portal.get("/accedi")

    assert landed.status_code == 303 and landed.location == "/abilitazione/"
    assert response.status_code == 303 and response.location == "/abilitazione/"


def test_the_session_is_renewed_at_login(portal: Any, iam: FakeIam) -> None:
    params = start(portal)
    before = portal.get_cookie("polis_session").value
    iam.claims = good_claims(iam, params["nonce"])

    portal.get(f"/accedi/callback?code=abc&state={params['state']}")

    after = portal.get_cookie("polis_session").value
    assert after != before


def test_the_personal_home_needs_a_login(portal: Any) -> None:
    response = portal.get("/area-personale")

    assert response.status_code == 302
    assert response.location.startswith("/accedi?next=")


@pytest.mark.parametrize(
    ("change", "sign_with"),
    [
        ({"iss": "http://evil.example"}, "good"),
        ({"aud": ["someone-else"]}, "good"),
        ({"nonce": "not-the-nonce"}, "good"),
        ({"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}, "good"),
        ({}, "other-key"),  # a signature by a key IAM does not publish
        ({}, "none"),  # alg: none
        ({}, "hs256"),  # HS256 signed with the public key
    ],
)
def test_a_wrong_id_token_is_refused(portal: Any, iam: FakeIam, change: dict, sign_with: str) -> None:
    params = start(portal)
    iam.claims = good_claims(iam, params["nonce"], **change)
    iam.sign_with = sign_with

    response = portal.get(f"/accedi/callback?code=abc&state={params['state']}")

    assert response.status_code == 502
    assert "Accesso non riuscito" in response.get_data(as_text=True)
    assert portal.get("/area-personale").status_code == 302


def test_a_callback_with_the_wrong_state_is_refused_without_calling_iam(portal: Any, iam: FakeIam) -> None:
    start(portal)

    response = portal.get("/accedi/callback?code=abc&state=forged")

    assert response.status_code == 400
    assert iam.requests == []


def test_an_error_from_iam_is_shown(portal: Any, iam: FakeIam) -> None:
    params = start(portal)

    response = portal.get(f"/accedi/callback?error=access_denied&state={params['state']}")

    assert response.status_code == 400
    assert iam.requests == []


def test_logout_ends_the_portal_session_and_goes_to_iam_end_session(portal: Any, iam: FakeIam) -> None:
    params = start(portal)
    iam.claims = good_claims(iam, params["nonce"])
    portal.get(f"/accedi/callback?code=abc&state={params['state']}")

    response = log_out(portal)

    assert response.status_code == 303
    parts = urlsplit(response.location)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{ISSUER}/oidc/logout"
    query = parse_qs(parts.query)
    assert query["post_logout_redirect_uri"] == [f"{ISSUER}/"]
    assert query["id_token_hint"][0].count(".") == 2
    assert portal.get("/area-personale").status_code == 302


def test_an_unreachable_iam_is_a_readable_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLIS_ENV", "test")
    from conftest import free_port_url

    app = create_app({"GATEWAY_SERVICES": {"iam": free_port_url()}, "GATEWAY_OIDC_ISSUER": ISSUER})
    portal = app.test_client()
    params = start(portal)

    response = portal.get(f"/accedi/callback?code=abc&state={params['state']}")

    assert response.status_code == 502
    assert "Traceback" not in response.get_data(as_text=True)
