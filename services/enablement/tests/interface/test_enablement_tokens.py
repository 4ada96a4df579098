"""Enablement trusts IAM's access tokens, not headers (issue 5, item 5): GET /api/enablement/v1/me proves the
wiring of polis.auth (audience urn:polis:enablement, scope "enablement", the roles of the permission map)."""

from __future__ import annotations

from flask.testing import FlaskClient
from polis.testing.token_contract import TokenContract, bearer
from polis.testing.tokens import TestIssuer

ME = "/api/enablement/v1/me"
AUDIENCE = "urn:polis:enablement"


def test_a_users_token_gives_the_user_permissions(client: FlaskClient, issuer: TestIssuer) -> None:
    response = client.get(ME, headers=bearer(issuer.token(audience=AUDIENCE)))

    assert response.status_code == 200
    body = response.get_json()
    assert body["kind"] == "user" and body["roles"] == ["user"]
    assert body["permissions"] == ["enablement.read_own", "enablement.request"]


def test_an_operator_may_identify(client: FlaskClient, issuer: TestIssuer) -> None:
    """D-ENA-3: in-person identification is the operators' permission."""
    token = issuer.token(audience=AUDIENCE, roles=["user", "operator"])

    assert "enablement.identify" in client.get(ME, headers=bearer(token)).get_json()["permissions"]


def test_an_ops_client_credentials_token_holds_the_ops_permission(
    client: FlaskClient, issuer: TestIssuer
) -> None:
    token = issuer.token(
        audience=AUDIENCE,
        sub="ops-tool",
        client_id="ops-tool",
        auth_time=None,
        scope="enablement",
        roles=["ops"],
    )

    body = client.get(ME, headers=bearer(token)).get_json()

    # D-ENA-10: ops also manage offices and operator assignments (as a security officer may).
    assert body["kind"] == "service" and body["permissions"] == ["enablement.assign", "enablement.ops"]


class TestEnablementTrustsTokensNotHeaders(TokenContract):
    """Issue 5 negative list, at enablement: wrong audience, expiry, alg none, HS256 with the public key, an
    unpublished key, wrong issuer, an ID token; the scope; no token; the OpenAPI document."""

    SERVICE = "enablement"
