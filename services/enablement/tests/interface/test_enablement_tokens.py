"""Enablement trusts IAM's access tokens, not headers (issue 5, item 5): GET /api/enablement/v1/me proves the
wiring of polis.auth (audience urn:polis:enablement, scope "enablement", the roles of the permission map)."""

from __future__ import annotations

from typing import ClassVar

from flask.testing import FlaskClient
from polis.testing.token_contract import PermissionMapContract, bearer
from polis.testing.tokens import TestIssuer

ME = "/api/enablement/v1/me"
AUDIENCE = "urn:polis:enablement"


def test_an_operator_may_identify(client: FlaskClient, issuer: TestIssuer) -> None:
    """D-ENA-3: in-person identification is the operators' permission."""
    token = issuer.token(audience=AUDIENCE, roles=["user", "operator"])

    assert "enablement.identify" in client.get(ME, headers=bearer(token)).get_json()["permissions"]


class TestEnablementTrustsTokensNotHeaders(PermissionMapContract):
    """Issue 5 negative list, at enablement: wrong audience, expiry, alg none, HS256 with the public key, an
    unpublished key, wrong issuer, an ID token; the scope; no token; the OpenAPI document; what a user's
    token and an ops client's token may do."""

    SERVICE = "enablement"
    USER_PERMISSIONS: ClassVar[list[str]] = ["enablement.read_own", "enablement.request"]
    # D-ENA-10: ops also manage offices and operator assignments (as a security officer may).
    OPS_PERMISSIONS: ClassVar[list[str]] = ["enablement.assign", "enablement.ops"]
