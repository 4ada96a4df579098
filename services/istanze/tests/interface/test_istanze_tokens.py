"""Istanze trusts IAM's access tokens, not headers (issue 5, item 5): GET /api/istanze/v1/me proves the
wiring of polis.auth (audience urn:polis:istanze, scope "istanze", the roles of the permission map)."""

from __future__ import annotations

from flask.testing import FlaskClient
from polis.testing.token_contract import TokenContract, bearer
from polis.testing.tokens import TestIssuer

ME = "/api/istanze/v1/me"
AUDIENCE = "urn:polis:istanze"


def test_a_users_token_gives_the_user_permissions(client: FlaskClient, issuer: TestIssuer) -> None:
    """D-IST-2/3: a signed-in user reads and submits their own istanze."""
    response = client.get(ME, headers=bearer(issuer.token(audience=AUDIENCE)))

    assert response.status_code == 200
    body = response.get_json()
    assert body["kind"] == "user" and body["roles"] == ["user"]
    assert body["permissions"] == ["istanze.read_own", "istanze.submit"]


def test_a_service_token_without_the_user_role_cannot_submit(client: FlaskClient, issuer: TestIssuer) -> None:
    token = issuer.token(audience=AUDIENCE, sub="x", client_id="x", auth_time=None, roles=["reporting"])

    assert client.get(ME, headers=bearer(token)).get_json()["permissions"] == []


def test_an_ops_client_credentials_token_holds_the_ops_permission(
    client: FlaskClient, issuer: TestIssuer
) -> None:
    token = issuer.token(
        audience=AUDIENCE,
        sub="ops-tool",
        client_id="ops-tool",
        auth_time=None,
        scope="istanze",
        roles=["ops"],
    )

    body = client.get(ME, headers=bearer(token)).get_json()

    assert body["kind"] == "service" and body["permissions"] == ["istanze.ops"]


class TestIstanzeTrustsTokensNotHeaders(TokenContract):
    """Issue 5 negative list, at istanze: wrong audience, expiry, alg none, HS256 with the public key, an
    unpublished key, wrong issuer, an ID token; the scope; no token; the OpenAPI document."""

    SERVICE = "istanze"
