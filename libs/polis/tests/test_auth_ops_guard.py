"""polis.auth's one ops guard (issue 12 item 2): the static break-glass token in constant time, or an IAM
access token holding the service's ops permission; the audit actor each leaves; a service's own authorize
(IAM's, with its revocation check) plugged in instead."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask, jsonify
from flask.testing import FlaskClient
from polis.auth import OPS, Permissions, permission, register_token_auth
from polis.auth.ops import ops_actor, ops_guard, ops_required, token_matches
from polis.config import Secret
from polis.errors import Unauthorized
from polis.testing.tokens import TestIssuer
from polis.web import register_platform

AUDIENCE = "urn:polis:demo"
PERMISSIONS = Permissions("demo", {"demo.ops": permission("demo", OPS)})
STATIC = "break-glass-token"


class NotOurs(Unauthorized):
    code = "ops_token_required"
    message = "An ops token is required."


@pytest.fixture(scope="module")
def issuer() -> TestIssuer:
    return TestIssuer()


@pytest.fixture
def client(issuer: TestIssuer) -> FlaskClient:
    app = Flask("ops-guard-test")
    app.config.update(
        OPS_TOKEN=Secret(STATIC),
        **issuer.app_settings(AUDIENCE),
    )
    register_platform(app, service="demo", version="1.0")
    register_token_auth(app, PERMISSIONS)

    @app.get("/api/demo/v1/ops/things")
    @ops_required(PERMISSIONS, "demo.ops")
    def things() -> Any:
        return jsonify(actor=ops_actor())

    def only_the_known_client(presented: str | None) -> str:
        if presented != "known-client-token":
            raise NotOurs()
        return "client:known"

    @app.get("/api/demo/v1/ops/own")
    @ops_guard(scope="demo", authorize=only_the_known_client)
    def own() -> Any:
        return jsonify(actor=ops_actor())

    return app.test_client()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def ops_token(issuer: TestIssuer, **changes: Any) -> str:
    claims = {"sub": "batch", "client_id": "batch", "auth_time": None, "sid": None, "roles": ["ops"]}
    return issuer.token(audience=AUDIENCE, scope="demo", **{**claims, **changes})


def test_the_static_token_passes_and_the_audit_names_it(client: FlaskClient) -> None:
    response = client.get("/api/demo/v1/ops/things", headers=bearer(STATIC))

    assert response.status_code == 200 and response.get_json() == {"actor": "ops:token"}


def test_a_clients_ops_token_passes_and_the_audit_names_the_client(
    client: FlaskClient, issuer: TestIssuer
) -> None:
    response = client.get("/api/demo/v1/ops/things", headers=bearer(ops_token(issuer)))

    assert response.status_code == 200 and response.get_json() == {"actor": "client:batch"}


def test_no_token_or_a_wrong_one_is_a_401(client: FlaskClient) -> None:
    assert client.get("/api/demo/v1/ops/things").status_code == 401
    wrong = client.get("/api/demo/v1/ops/things", headers=bearer(STATIC + "x"))
    assert wrong.status_code == 401 and wrong.get_json()["error"]["code"] == "invalid_token"


def test_a_users_token_is_a_403(client: FlaskClient, issuer: TestIssuer) -> None:
    users_token = issuer.token(audience=AUDIENCE, scope="demo")

    response = client.get("/api/demo/v1/ops/things", headers=bearer(users_token))

    assert response.status_code == 403 and response.get_json()["error"]["code"] == "insufficient_scope"


def test_a_services_own_authorize_keeps_its_own_refusals(client: FlaskClient) -> None:
    assert client.get("/api/demo/v1/ops/own", headers=bearer(STATIC)).get_json() == {"actor": "ops:token"}
    assert client.get("/api/demo/v1/ops/own", headers=bearer("known-client-token")).get_json() == {
        "actor": "client:known"
    }
    refused = client.get("/api/demo/v1/ops/own", headers=bearer("other"))
    assert refused.status_code == 401 and refused.get_json()["error"]["code"] == "ops_token_required"


@pytest.mark.parametrize(
    ("expected", "presented", "matches"),
    [
        (Secret("abc"), "abc", True),
        ("abc", "abc", True),
        (Secret("abc"), "abd", False),
        (Secret("abc"), None, False),
        (None, "abc", False),
        ("", "", False),  # an unset static token never matches, not even an empty one
    ],
)
def test_token_matches(expected: Secret | str | None, presented: str | None, matches: bool) -> None:
    assert token_matches(expected, presented) is matches
