"""polis.auth on a Flask app (issue 5, item 5): the guard, the RFC 6750 answers in the Polis error shape,
GET /api/<service>/v1/me, and the OpenAPI document naming the bearer token."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask, g, jsonify
from flask.testing import FlaskClient
from polis.auth import (
    OPERATOR,
    OPS,
    USER,
    KeysUnavailable,
    Permissions,
    permission,
    register_token_auth,
    require_token,
    verifier_from_settings,
)
from polis.testing.tokens import TestIssuer
from polis.web import api_doc, register_platform

AUDIENCE = "urn:polis:demo"
PERMISSIONS = Permissions(
    "demo",
    {
        "demo.read_own": permission("demo", USER),
        "demo.identify": permission("demo", OPERATOR),
        "demo.ops": permission("demo", OPS),
    },
)


@pytest.fixture(scope="module")
def issuer() -> TestIssuer:
    return TestIssuer()


def make_app(issuer: TestIssuer, jwks: Any = None) -> Flask:
    app = Flask("auth-test")
    app.config.update(issuer.app_settings(AUDIENCE, jwks=jwks))
    register_platform(app, service="demo", version="1.0")
    register_token_auth(app, PERMISSIONS)

    @app.get("/api/demo/v1/things")
    @api_doc("My things", errors=(401, 403))
    @PERMISSIONS.require("demo.read_own")
    def things() -> Any:
        return jsonify(owner=g.principal.subject)

    @app.post("/api/demo/v1/identifications")
    @PERMISSIONS.require("demo.identify")
    def identify() -> Any:
        return jsonify(by=g.principal.subject), 201

    @app.get("/api/demo/v1/anyone")
    @require_token()
    def anyone() -> Any:
        return jsonify(client=g.principal.client_id)

    return app


@pytest.fixture
def client(issuer: TestIssuer) -> FlaskClient:
    return make_app(issuer).test_client()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_refused(response: Any, status: int, code: str, challenge: str) -> None:
    assert response.status_code == status
    assert response.get_json() == {
        "error": {"code": code, "message": response.get_json()["error"]["message"], "fields": {}}
    }
    assert response.headers["WWW-Authenticate"].startswith(challenge)


def test_a_good_token_reaches_the_view_with_its_principal(client: FlaskClient, issuer: TestIssuer) -> None:
    response = client.get(
        "/api/demo/v1/things", headers=bearer(issuer.token(audience=AUDIENCE, scope="demo"))
    )

    assert response.status_code == 200
    assert response.get_json() == {"owner": "3f7c1b9e-5a1d-4c1e-9a44-000000000001"}


def test_no_token_is_a_401_with_a_bare_challenge(client: FlaskClient) -> None:
    """RFC 6750 section 3.1: a request without credentials gets the challenge but no error code."""
    response = client.get("/api/demo/v1/things")

    assert_refused(response, 401, "unauthorized", 'Bearer realm="polis"')
    assert "error=" not in response.headers["WWW-Authenticate"]


def test_another_scheme_counts_as_no_token(client: FlaskClient) -> None:
    response = client.get("/api/demo/v1/things", headers={"Authorization": "Basic dXNlcjpwYXNz"})

    assert_refused(response, 401, "unauthorized", 'Bearer realm="polis"')


@pytest.mark.parametrize("header", ["Bearer", "Bearer   ", "Bearer two tokens", "Bearer a,b"])
def test_a_malformed_bearer_header_is_a_400_invalid_request(client: FlaskClient, header: str) -> None:
    response = client.get("/api/demo/v1/things", headers={"Authorization": header})

    assert_refused(response, 400, "invalid_request", 'Bearer realm="polis", error="invalid_request"')


def test_a_token_for_another_service_is_a_401_invalid_token(client: FlaskClient, issuer: TestIssuer) -> None:
    """Issue 5 negative list: wrong audience at a service."""
    response = client.get("/api/demo/v1/things", headers=bearer(issuer.token(audience="urn:polis:istanze")))

    assert_refused(response, 401, "invalid_token", 'Bearer realm="polis", error="invalid_token"')


def test_a_token_without_the_services_scope_is_a_403_insufficient_scope(
    client: FlaskClient, issuer: TestIssuer
) -> None:
    token = issuer.token(audience=AUDIENCE, scope="openid profile")

    response = client.get("/api/demo/v1/things", headers=bearer(token))

    assert_refused(response, 403, "insufficient_scope", 'Bearer realm="polis", error="insufficient_scope"')
    assert 'scope="demo"' in response.headers["WWW-Authenticate"]


def test_a_token_without_the_role_is_a_403(client: FlaskClient, issuer: TestIssuer) -> None:
    token = issuer.token(audience=AUDIENCE, scope="demo", roles=["user"])

    response = client.post("/api/demo/v1/identifications", headers=bearer(token), json={})

    assert_refused(response, 403, "insufficient_scope", 'Bearer realm="polis", error="insufficient_scope"')
    assert "operator" in response.get_json()["error"]["message"]


def test_an_operators_token_may_identify(client: FlaskClient, issuer: TestIssuer) -> None:
    token = issuer.token(audience=AUDIENCE, scope="demo", roles=["user", "operator"])

    assert client.post("/api/demo/v1/identifications", headers=bearer(token), json={}).status_code == 201


def test_require_token_without_scope_or_roles_needs_only_a_valid_token(
    client: FlaskClient, issuer: TestIssuer
) -> None:
    assert (
        client.get("/api/demo/v1/anyone", headers=bearer(issuer.token(audience=AUDIENCE))).status_code == 200
    )
    assert client.get("/api/demo/v1/anyone").status_code == 401


def test_me_names_the_principal_and_its_permissions_here(client: FlaskClient, issuer: TestIssuer) -> None:
    token = issuer.token(audience=AUDIENCE, scope="openid demo", roles=["user", "operator"])

    response = client.get("/api/demo/v1/me", headers=bearer(token))

    assert response.status_code == 200
    assert response.get_json() == {
        "subject": "3f7c1b9e-5a1d-4c1e-9a44-000000000001",
        "client_id": "portal",
        "kind": "user",
        "roles": ["operator", "user"],
        "scopes": ["demo", "openid"],
        "permissions": ["demo.identify", "demo.read_own"],
    }


def test_me_for_a_service_token_with_the_ops_role(client: FlaskClient, issuer: TestIssuer) -> None:
    token = issuer.token(
        audience=AUDIENCE, sub="jobs", client_id="jobs", auth_time=None, sid=None, scope="demo", roles=["ops"]
    )

    body = client.get("/api/demo/v1/me", headers=bearer(token)).get_json()

    assert body["kind"] == "service" and body["permissions"] == ["demo.ops"]


@pytest.mark.parametrize("alg", ["none", "HS256"])
def test_forged_algorithms_are_refused_at_me(client: FlaskClient, issuer: TestIssuer, alg: str) -> None:
    """Issue 5 negative list: `alg: none`, and HS256 signed with the public key."""
    token = issuer.sign(issuer.claims(audience=AUDIENCE, scope="demo"), alg=alg, kid=issuer.ec.kid)

    assert_refused(client.get("/api/demo/v1/me", headers=bearer(token)), 401, "invalid_token", "Bearer")


def test_keys_that_cannot_be_fetched_are_a_503_in_the_error_shape(issuer: TestIssuer) -> None:
    def unavailable() -> dict[str, Any]:
        raise KeysUnavailable()

    client = make_app(issuer, jwks=unavailable).test_client()

    response = client.get("/api/demo/v1/me", headers=bearer(issuer.token(audience=AUDIENCE, scope="demo")))

    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "service_unavailable"


def test_the_openapi_document_names_the_bearer_token_and_the_scope(client: FlaskClient) -> None:
    document = client.get("/openapi.json").get_json()

    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert document["paths"]["/api/demo/v1/me"]["get"]["security"] == [{"bearer": ["demo"]}]
    assert document["paths"]["/api/demo/v1/things"]["get"]["security"] == [{"bearer": ["demo"]}]
    assert set(document["paths"]["/api/demo/v1/me"]["get"]["responses"]) == {"200", "400", "401", "403"}


def test_a_permission_map_refuses_unknown_names_when_views_are_declared() -> None:
    with pytest.raises(KeyError):
        PERMISSIONS.require("demo.unknown")
    with pytest.raises(ValueError, match=r"demo\.<action>"):
        Permissions("demo", {"other.read": permission("demo", USER)})


def test_the_verifier_reads_its_settings(issuer: TestIssuer) -> None:
    verifier = verifier_from_settings(make_app(issuer).config)

    assert verifier.issuer == issuer.issuer and verifier.audience == AUDIENCE and verifier.clock_skew == 60


def test_token_settings_have_local_defaults_in_dev_and_are_required_in_production() -> None:
    from polis.auth import token_settings
    from polis.config import ConfigError, Env

    dev = token_settings(Env({"POLIS_ENV": "dev"}), "istanze")
    assert dev["TOKEN_ISSUER"] == "http://localhost:8080"
    assert dev["TOKEN_JWKS_URL"] == "http://127.0.0.1:8101/oidc/jwks"
    assert dev["TOKEN_AUDIENCE"] == "urn:polis:istanze"
    with pytest.raises(ConfigError, match="POLIS_OIDC_ISSUER"):
        token_settings(Env({"POLIS_ENV": "production"}), "istanze")
    production = token_settings(
        Env(
            {
                "POLIS_ENV": "production",
                "POLIS_OIDC_ISSUER": "https://istanze.example.it/",
                "POLIS_OIDC_JWKS_URL": "http://iam:8101/oidc/jwks",
            }
        ),
        "enablement",
    )
    assert production["TOKEN_ISSUER"] == "https://istanze.example.it"
    assert production["TOKEN_AUDIENCE"] == "urn:polis:enablement"
