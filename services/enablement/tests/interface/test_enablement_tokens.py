"""Enablement trusts IAM's access tokens, not headers (issue 5, item 5): GET /api/enablement/v1/me proves the
wiring of polis.auth (audience urn:polis:enablement, scope "enablement", the roles of the permission map)."""

from __future__ import annotations

import time

import pytest
from flask.testing import FlaskClient
from polis.testing.tokens import TestIssuer

ME = "/api/enablement/v1/me"
AUDIENCE = "urn:polis:enablement"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


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

    assert body["kind"] == "service" and body["permissions"] == ["enablement.ops"]


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda i: i.token(audience="urn:polis:istanze"), "wrong audience"),
        (
            lambda i: i.token(audience=AUDIENCE, iat=int(time.time()) - 2000, exp=int(time.time()) - 120),
            "expired",
        ),
        (lambda i: i.sign(i.claims(audience=AUDIENCE), alg="none", kid=i.ec.kid), "alg none"),
        (lambda i: i.sign(i.claims(audience=AUDIENCE), alg="HS256"), "HS256 with the public key"),
        (lambda i: i.unpublished_token(audience=AUDIENCE), "unpublished key"),
        (lambda i: i.token(audience=AUDIENCE, iss="http://evil.example"), "wrong issuer"),
        (lambda i: i.sign(i.claims(audience=AUDIENCE), typ="JWT"), "an ID token"),
    ],
)
def test_wrong_tokens_are_refused_with_invalid_token(
    client: FlaskClient, issuer: TestIssuer, make: object, reason: str
) -> None:
    """Issue 5 negative list, at a service."""
    response = client.get(ME, headers=bearer(make(issuer)))  # type: ignore[operator]

    assert response.status_code == 401, reason
    assert response.get_json()["error"]["code"] == "invalid_token"
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_a_token_without_the_enablement_scope_is_a_403(client: FlaskClient, issuer: TestIssuer) -> None:
    response = client.get(ME, headers=bearer(issuer.token(audience=AUDIENCE, scope="openid istanze")))

    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "insufficient_scope"
    assert 'scope="enablement"' in response.headers["WWW-Authenticate"]


def test_no_token_is_a_401(client: FlaskClient) -> None:
    response = client.get(ME, headers={"X-User": "someone"})  # headers are not trusted

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="polis"'


def test_me_is_in_the_openapi_document(client: FlaskClient) -> None:
    operation = client.get("/openapi.json").get_json()["paths"][ME]["get"]

    assert operation["security"] == [{"bearer": ["enablement"]}]
