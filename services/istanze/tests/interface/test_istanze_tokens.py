"""Istanze trusts IAM's access tokens, not headers (issue 5, item 5): GET /api/istanze/v1/me proves the
wiring of polis.auth (audience urn:polis:istanze, scope "istanze", the roles of the permission map)."""

from __future__ import annotations

from typing import ClassVar

from flask.testing import FlaskClient
from polis.testing.token_contract import PermissionMapContract, bearer
from polis.testing.tokens import TestIssuer

ME = "/api/istanze/v1/me"
AUDIENCE = "urn:polis:istanze"


def test_a_service_token_without_the_user_role_cannot_submit(client: FlaskClient, issuer: TestIssuer) -> None:
    token = issuer.token(audience=AUDIENCE, sub="x", client_id="x", auth_time=None, roles=["reporting"])

    assert client.get(ME, headers=bearer(token)).get_json()["permissions"] == []


class TestIstanzeTrustsTokensNotHeaders(PermissionMapContract):
    """Issue 5 negative list, at istanze: wrong audience, expiry, alg none, HS256 with the public key, an
    unpublished key, wrong issuer, an ID token; the scope; no token; the OpenAPI document; what a user's
    token and an ops client's token may do."""

    SERVICE = "istanze"
    # D-IST-2/3: a signed-in user reads and submits their own istanze.
    USER_PERMISSIONS: ClassVar[list[str]] = ["istanze.read_own", "istanze.submit"]
    OPS_PERMISSIONS: ClassVar[list[str]] = ["istanze.ops"]
