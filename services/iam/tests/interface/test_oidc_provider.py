"""The OpenID Connect provider: discovery, JWKS, authorization code + PKCE, ID token, userinfo, logout
(D-ACC-1, D-ACC-4)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from flask import Flask
from flask.testing import FlaskClient
from iam.extensions import db
from iam.models import outbox
from iam.signin.sessions import COOKIE
from joserfc import jwt
from joserfc.jwk import KeySet
from oidc_helpers import (
    AFTER_LOGOUT,
    CALLBACK,
    ISSUER,
    PORTAL,
    asks_for_the_password,
    authorize_url,
    code_from,
    exchange,
    full_login,
    get_account,
    login_form_fields,
    make_account,
    make_app,
    pkce,
)
from sqlalchemy import update


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    yield from make_app(database_url)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def decode(client: FlaskClient, id_token: str) -> dict:
    keys = KeySet.import_key_set(client.get("/oidc/jwks").get_json())
    return dict(jwt.decode(id_token, keys, algorithms=["ES256"]).claims)


def test_discovery_states_what_is_supported(client: FlaskClient) -> None:
    doc = client.get("/.well-known/openid-configuration").get_json()

    assert doc["issuer"] == ISSUER
    assert doc["authorization_endpoint"] == f"{ISSUER}/oidc/authorize"
    assert doc["token_endpoint"] == f"{ISSUER}/oidc/token"
    assert doc["jwks_uri"] == f"{ISSUER}/oidc/jwks"
    assert doc["end_session_endpoint"] == f"{ISSUER}/oidc/logout"
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["id_token_signing_alg_values_supported"] == ["ES256", "RS256"]
    assert doc["response_types_supported"] == ["code"]


def test_jwks_publishes_one_es256_public_key_generated_once(client: FlaskClient) -> None:
    first = client.get("/oidc/jwks").get_json()
    second = client.get("/oidc/jwks").get_json()

    assert first == second
    [key] = first["keys"]
    assert key["kty"] == "EC" and key["crv"] == "P-256" and key["alg"] == "ES256" and key["use"] == "sig"
    assert "d" not in key  # never the private part


def test_the_code_flow_gives_a_signed_id_token_with_the_claims_of_the_scopes(client: FlaskClient) -> None:
    """D-ACC-4: the portal logs the user in with the authorization code flow + PKCE."""
    account_id = make_account()

    result = full_login(client)

    assert result["params"]["state"] == "st-1"
    claims = decode(client, result["token"]["id_token"])
    assert claims["iss"] == ISSUER
    assert claims["aud"] == [PORTAL] or claims["aud"] == PORTAL
    assert claims["nonce"] == "n-1"
    assert claims["sub"] == str(account_id)  # opaque and stable, not the username
    assert claims["preferred_username"] == "mario.rossi"
    assert claims["given_name"] == "Mario" and claims["family_name"] == "Rossi"
    assert claims["email"] == "mario@example.org" and claims["email_verified"] is True
    assert claims["locale"] == "it"
    assert claims["sid"]
    assert claims["exp"] > claims["iat"]


def test_userinfo_releases_claims_per_scope(client: FlaskClient) -> None:
    make_account(institutional_email="mario.rossi@istruzione.it")
    verifier, challenge = pkce()
    from oidc_helpers import login

    login(client)
    response = client.get(authorize_url(challenge, scope="openid profile"))
    token = exchange(client, code_from(response.location)["code"], verifier).get_json()

    info = client.get(
        "/oidc/userinfo", headers={"Authorization": f"Bearer {token['access_token']}"}
    ).get_json()

    assert info["preferred_username"] == "mario.rossi"
    assert "email" not in info  # the email scope was not asked for


def test_userinfo_gives_the_reference_address(client: FlaskClient) -> None:
    """D-ACC-8: the institutional address is the reference one where it exists."""
    make_account(institutional_email="mario.rossi@istruzione.it")
    token = full_login(client)["token"]

    info = client.get(
        "/oidc/userinfo", headers={"Authorization": f"Bearer {token['access_token']}"}
    ).get_json()

    assert info["email"] == "mario.rossi@istruzione.it"


def test_a_code_works_once(client: FlaskClient) -> None:
    make_account()
    from oidc_helpers import login

    login(client)
    verifier, challenge = pkce()
    code = code_from(client.get(authorize_url(challenge)).location)["code"]

    assert exchange(client, code, verifier).status_code == 200
    again = exchange(client, code, verifier)
    assert again.status_code == 400
    assert again.get_json()["error"] == "invalid_grant"


def test_a_wrong_pkce_verifier_is_refused_and_burns_the_code(client: FlaskClient) -> None:
    make_account()
    from oidc_helpers import login

    login(client)
    verifier, challenge = pkce()
    code = code_from(client.get(authorize_url(challenge)).location)["code"]

    wrong = exchange(client, code, pkce()[0])
    assert wrong.status_code == 400 and wrong.get_json()["error"] == "invalid_grant"
    assert exchange(client, code, verifier).status_code == 400


def test_a_wrong_client_secret_is_refused(client: FlaskClient) -> None:
    make_account()
    from oidc_helpers import login

    login(client)
    verifier, challenge = pkce()
    code = code_from(client.get(authorize_url(challenge)).location)["code"]

    response = exchange(client, code, verifier, secret="not-the-secret")
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    "extra",
    [
        {"code_challenge": ""},  # PKCE is required
        {"code_challenge_method": "plain"},  # and only S256
    ],
)
def test_pkce_is_required_with_s256(client: FlaskClient, extra: dict[str, str]) -> None:
    make_account()
    from oidc_helpers import login

    login(client)
    _, challenge = pkce()
    response = client.get(authorize_url(challenge, **extra))

    # The redirect URI is the client's own, checked: the error goes back to it, with no code.
    assert response.status_code == 302
    params = code_from(response.location)
    assert params["error"] == "invalid_request"
    assert "code" not in params


def test_an_unregistered_redirect_uri_is_shown_on_iam_page_never_redirected(client: FlaskClient) -> None:
    _, challenge = pkce()
    response = client.get(authorize_url(challenge, redirect_uri="https://evil.example/cb"))

    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "invalid_request" in response.get_data(as_text=True)


def test_an_unknown_client_is_shown_on_iam_page(client: FlaskClient) -> None:
    _, challenge = pkce()
    response = client.get(authorize_url(challenge, client_id="nobody"))

    assert response.status_code == 400
    assert "Location" not in response.headers


def test_an_anonymous_browser_is_sent_to_the_login_page_and_back(client: FlaskClient) -> None:
    _, challenge = pkce()
    response = client.get(authorize_url(challenge))

    # The login form in the endpoint's own answer (issue 18); the login comes back to this request.
    assert asks_for_the_password(response)
    next_path = login_form_fields(response.get_data(as_text=True))[0]
    assert next_path.startswith("/oidc/authorize?")


def test_the_sso_session_skips_the_password_the_second_time(client: FlaskClient) -> None:
    make_account()
    full_login(client)
    _, challenge = pkce()

    response = client.get(authorize_url(challenge, state="again"))

    assert response.status_code == 302
    assert code_from(response.location)["state"] == "again"


def test_a_credentials_change_ends_the_session_and_the_access_token(client: FlaskClient) -> None:
    """Bumping credentials_version ends every session and token of the account."""
    account_id = make_account()
    token = full_login(client)["token"]
    from iam.accounts.models import Account

    with db.transaction() as session:
        session.execute(update(Account).where(Account.id == account_id).values(credentials_version=2))

    info = client.get("/oidc/userinfo", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert info.status_code == 401
    _, challenge = pkce()
    assert asks_for_the_password(client.get(authorize_url(challenge)))


def test_logout_ends_the_session_and_returns_to_a_registered_uri(client: FlaskClient) -> None:
    make_account()
    token = full_login(client)["token"]

    response = client.get(
        "/oidc/logout?"
        + urlencode(
            {"id_token_hint": token["id_token"], "post_logout_redirect_uri": AFTER_LOGOUT, "state": "bye"}
        )
    )

    assert response.status_code == 302
    assert response.location == AFTER_LOGOUT + "?state=bye"
    assert f"{COOKIE}=;" in response.headers["Set-Cookie"]
    _, challenge = pkce()
    assert asks_for_the_password(client.get(authorize_url(challenge)))


def test_logout_never_redirects_to_an_unregistered_uri(client: FlaskClient) -> None:
    make_account()
    token = full_login(client)["token"]

    response = client.get(
        "/oidc/logout?"
        + urlencode({"id_token_hint": token["id_token"], "post_logout_redirect_uri": "https://evil.example/"})
    )

    assert response.status_code == 200
    assert "Location" not in response.headers


def test_logout_without_a_valid_hint_does_not_redirect(client: FlaskClient) -> None:
    response = client.get(
        "/oidc/logout?" + urlencode({"id_token_hint": "x.y.z", "post_logout_redirect_uri": AFTER_LOGOUT})
    )

    assert response.status_code == 200
    assert "Location" not in response.headers


def test_the_login_records_the_last_access(client: FlaskClient) -> None:
    """D-ACC-4 / D-REV-2: last access is recorded at every login."""
    account_id = make_account()
    assert get_account(account_id).last_access_at is None

    full_login(client)

    assert get_account(account_id).last_access_at is not None
    _ = outbox, CALLBACK
