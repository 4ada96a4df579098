"""The token checks every Polis service's API must pass (issue 5, item 5), written once.

A service's tests subclass it with its name; its `client` and `issuer` fixtures (polis.testing.tokens)
give the app and the test IAM:

    class TestIstanzeTrustsTokensNotHeaders(TokenContract):
        SERVICE = "istanze"

PermissionMapContract adds what /me answers for a user's token and for an ops client's token, the
service's role -> permission map seen through polis.auth:

    class TestIstanzeTrustsTokensNotHeaders(PermissionMapContract):
        SERVICE = "istanze"
        USER_PERMISSIONS: ClassVar[list[str]] = ["istanze.read_own", "istanze.submit"]
        OPS_PERMISSIONS: ClassVar[list[str]] = ["istanze.ops"]
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import ClassVar

import pytest
from flask.testing import FlaskClient

from polis.testing.tokens import TestIssuer

Forge = Callable[[TestIssuer, str], str]

# The negative list, as seen by a service (audience = the service's own).
FORGERIES: list[tuple[Forge, str]] = [
    (lambda i, aud: i.token(audience="urn:polis:somewhere-else"), "wrong audience"),
    (
        lambda i, aud: i.token(audience=aud, iat=int(time.time()) - 2000, exp=int(time.time()) - 120),
        "expired beyond the clock skew",
    ),
    (lambda i, aud: i.sign(i.claims(audience=aud), alg="none", kid=i.ec.kid), "alg none"),
    (lambda i, aud: i.sign(i.claims(audience=aud), alg="HS256"), "HS256 signed with the public key"),
    (lambda i, aud: i.unpublished_token(audience=aud), "a key IAM does not publish"),
    (lambda i, aud: i.token(audience=aud, iss="http://evil.example"), "wrong issuer"),
    (lambda i, aud: i.sign(i.claims(audience=aud), typ="JWT"), "an ID token"),
]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class TokenContract:
    SERVICE = ""

    @property
    def me(self) -> str:
        return f"/api/{self.SERVICE}/v1/me"

    @property
    def audience(self) -> str:
        return f"urn:polis:{self.SERVICE}"

    @pytest.mark.parametrize(("forge", "reason"), FORGERIES, ids=[reason for _, reason in FORGERIES])
    def test_wrong_tokens_are_refused_with_invalid_token(
        self, client: FlaskClient, issuer: TestIssuer, forge: Forge, reason: str
    ) -> None:
        response = client.get(self.me, headers=bearer(forge(issuer, self.audience)))

        assert response.status_code == 401, reason
        assert response.get_json()["error"]["code"] == "invalid_token"
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]

    def test_a_token_without_the_service_scope_is_a_403(
        self, client: FlaskClient, issuer: TestIssuer
    ) -> None:
        response = client.get(self.me, headers=bearer(issuer.token(audience=self.audience, scope="openid")))

        assert response.status_code == 403
        assert response.get_json()["error"]["code"] == "insufficient_scope"
        assert f'scope="{self.SERVICE}"' in response.headers["WWW-Authenticate"]

    def test_no_token_is_a_401_whatever_the_headers_say(self, client: FlaskClient) -> None:
        response = client.get(self.me, headers={"X-User": "someone"})  # headers are not trusted

        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="polis"'

    def test_me_is_in_the_openapi_document(self, client: FlaskClient) -> None:
        operation = client.get("/openapi.json").get_json()["paths"][self.me]["get"]

        assert operation["security"] == [{"bearer": [self.SERVICE]}]


class PermissionMapContract(TokenContract):
    USER_PERMISSIONS: ClassVar[list[str]] = []
    OPS_PERMISSIONS: ClassVar[list[str]] = []

    def test_a_users_token_gives_the_user_permissions(self, client: FlaskClient, issuer: TestIssuer) -> None:
        response = client.get(self.me, headers=bearer(issuer.token(audience=self.audience)))

        assert response.status_code == 200
        body = response.get_json()
        assert body["kind"] == "user" and body["roles"] == ["user"]
        assert body["permissions"] == self.USER_PERMISSIONS

    def test_an_ops_client_credentials_token_holds_the_ops_permission(
        self, client: FlaskClient, issuer: TestIssuer
    ) -> None:
        body = client.get(self.me, headers=bearer(issuer.ops_token(self.SERVICE))).get_json()

        assert body["kind"] == "service" and body["permissions"] == self.OPS_PERMISSIONS
