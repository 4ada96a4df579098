"""Issue 5 item 2-3: the grants and tokens of the provider — JWT access tokens (RFC 9068), refresh with
rotation and reuse detection, client credentials, revocation (RFC 7009), introspection (RFC 7662),
`prompt` and `max_age` — and the OAuth errors of the issue's negative list (D-ACC-1, D-ACC-4)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from flask import Flask
from flask.testing import FlaskClient
from iam.clients import service as clients
from iam.extensions import db
from iam.oidc.models import AuthorizationCode
from joserfc import jwt
from joserfc.jwk import KeySet
from oidc_helpers import (
    CALLBACK,
    ISSUER,
    PORTAL,
    PORTAL_SECRET,
    authorize_url,
    code_from,
    exchange,
    full_login,
    make_account,
    make_app,
    pkce,
    sign_in_at,
)
from sqlalchemy import select, update

SERVICE = "polis-batch"
SERVICE_SECRET = "service-test-secret-0123456789"
OPS_CLIENT = "polis-ops-test"
OPS_SECRET = "ops-test-secret-0123456789abcdef"
OTHER = "other-app"
OTHER_SECRET = "other-test-secret-0123456789"


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    for app in make_app(database_url):
        with app.app_context():
            clients.ensure(
                db,
                client_id=PORTAL,
                name="Istanze OnLine",
                secret=PORTAL_SECRET,
                redirect_uris=[CALLBACK],
                post_logout_redirect_uris=[f"{ISSUER}/"],
                scopes=["openid", "profile", "email", "fiscal_number", "iam", "istanze"],
                grant_types=["authorization_code", "refresh_token"],
                audiences=["urn:polis:iam", "urn:polis:istanze"],
            )
            clients.ensure(
                db,
                client_id=SERVICE,
                name="Polis batch",
                secret=SERVICE_SECRET,
                redirect_uris=[],
                post_logout_redirect_uris=[],
                scopes=["istanze", "enablement"],
                grant_types=["client_credentials"],
                audiences=["urn:polis:istanze", "urn:polis:enablement"],
                service_roles=["ops"],
            )
            clients.ensure(
                db,
                client_id=OPS_CLIENT,
                name="Polis ops",
                secret=OPS_SECRET,
                scopes=["iam"],
                grant_types=["client_credentials"],
                audiences=["urn:polis:iam"],
                service_roles=["ops"],
            )
            clients.ensure(
                db,
                client_id=OTHER,
                name="Another app",
                secret=OTHER_SECRET,
                redirect_uris=["https://other.example.org/cb"],
                post_logout_redirect_uris=[],
            )
        yield app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


PORTAL_AUTH = basic(PORTAL, PORTAL_SECRET)


def jwks(client: FlaskClient) -> KeySet:
    return KeySet.import_key_set(client.get("/oidc/jwks").get_json())


def verify(client: FlaskClient, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    decoded = jwt.decode(token, jwks(client), algorithms=["ES256", "RS256"])
    return dict(decoded.header), dict(decoded.claims)


def refresh(client: FlaskClient, token: str, **extra: str) -> Any:
    return client.post(
        "/oidc/token",
        data={"grant_type": "refresh_token", "refresh_token": token, **extra},
        headers=PORTAL_AUTH,
    )


def login_with_scope(client: FlaskClient, scope: str) -> dict[str, Any]:
    verifier, challenge = pkce()
    back = client.get(authorize_url(challenge, scope=scope))
    if back.status_code == 200:  # no SSO session yet: the login form, the password once (issue 18)
        back = sign_in_at(client, back)
    token = exchange(client, code_from(back.location)["code"], verifier)
    assert token.status_code == 200, token.get_json()
    return dict(token.get_json())


# --- JWT access tokens -----------------------------------------------------------------------------------


def test_issue_5_the_access_token_is_a_jwt_of_rfc_9068(client: FlaskClient) -> None:
    account_id = make_account()
    token = login_with_scope(client, "openid profile iam")

    header, claims = verify(client, token["access_token"])

    assert header["typ"] == "at+jwt" and header["alg"] == "ES256" and header["kid"]
    assert claims["iss"] == ISSUER and claims["sub"] == str(account_id) and claims["client_id"] == PORTAL
    assert claims["aud"] == ["urn:polis:iam"]  # istanze is allowed but was not asked for
    assert claims["scope"] == "openid profile iam" and claims["roles"] == ["user"]
    assert claims["exp"] - claims["iat"] == token["expires_in"] == 900
    assert claims["jti"] and claims["sid"] and claims["auth_time"] <= claims["iat"]


def test_issue_5_the_fiscal_number_is_released_only_for_its_scope(client: FlaskClient) -> None:
    make_account()
    with_it = login_with_scope(client, "openid profile fiscal_number")
    without = login_with_scope(client, "openid profile")
    claim = "https://attributes.eid.gov.it/fiscal_number"

    info_with = client.get("/oidc/userinfo", headers={"Authorization": f"Bearer {with_it['access_token']}"})
    info_without = client.get(
        "/oidc/userinfo", headers={"Authorization": f"Bearer {without['access_token']}"}
    )

    assert info_with.get_json()[claim] == "RSSMRA80A01H501U"
    assert verify(client, with_it["id_token"])[1][claim] == "RSSMRA80A01H501U"
    assert claim not in info_without.get_json()


def test_issue_5_scopes_beyond_the_client_allowance_are_refused(client: FlaskClient) -> None:
    make_account()
    _, challenge = pkce()
    answer = client.get(authorize_url(challenge, scope="openid enablement"))  # not allowed to the portal

    assert answer.status_code == 302
    params = code_from(answer.location)
    assert params["error"] == "invalid_scope" and params["state"] == "st-1"


# --- refresh tokens ----------------------------------------------------------------------------------------


def test_issue_5_a_refresh_rotates_the_token_and_gives_a_fresh_id_token(client: FlaskClient) -> None:
    make_account()
    first = full_login(client)["token"]

    second = refresh(client, first["refresh_token"])

    assert second.status_code == 200, second.get_json()
    body = second.get_json()
    assert body["refresh_token"] != first["refresh_token"]
    assert body["access_token"] != first["access_token"]
    assert verify(client, body["id_token"])[1]["sub"] == verify(client, first["id_token"])[1]["sub"]
    assert refresh(client, body["refresh_token"]).status_code == 200


def test_issue_5_a_reused_refresh_token_revokes_the_whole_family(client: FlaskClient) -> None:
    make_account()
    first = full_login(client)["token"]
    second = refresh(client, first["refresh_token"]).get_json()

    replay = refresh(client, first["refresh_token"])  # an attacker's copy of the spent token

    assert replay.status_code == 400 and replay.get_json()["error"] == "invalid_grant"
    # The legitimate holder's newer token and access token are gone with the family.
    assert refresh(client, second["refresh_token"]).get_json()["error"] == "invalid_grant"
    userinfo = client.get("/oidc/userinfo", headers={"Authorization": f"Bearer {second['access_token']}"})
    assert userinfo.status_code == 401


def test_issue_5_a_refresh_token_works_only_for_its_client(client: FlaskClient) -> None:
    make_account()
    token = full_login(client)["token"]

    stolen = client.post(
        "/oidc/token",
        data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
        headers=basic(OTHER, OTHER_SECRET),
    )

    assert stolen.status_code == 400 and stolen.get_json()["error"] == "invalid_grant"
    assert refresh(client, token["refresh_token"]).status_code == 200  # still good for its own client


def test_issue_5_a_refresh_may_narrow_the_scope_never_widen_it(client: FlaskClient) -> None:
    make_account()
    token = full_login(client)["token"]  # openid profile email

    wider = refresh(client, token["refresh_token"], scope="openid profile email iam")
    narrower = refresh(client, token["refresh_token"], scope="openid")

    assert wider.status_code == 400 and wider.get_json()["error"] == "invalid_scope"
    assert narrower.status_code == 200 and narrower.get_json()["scope"] == "openid"


def test_issue_5_d_acc_7_a_password_change_ends_the_refresh_tokens(client: FlaskClient) -> None:
    account_id = make_account()
    token = full_login(client)["token"]
    from iam.accounts.models import Account

    with db.transaction() as session:
        session.execute(
            update(Account)
            .where(Account.id == account_id)
            .values(credentials_version=Account.credentials_version + 1)
        )

    answer = refresh(client, token["refresh_token"])

    assert answer.status_code == 400 and answer.get_json()["error"] == "invalid_grant"


# --- client credentials ----------------------------------------------------------------------------------


def service_token(client: FlaskClient, **data: str) -> Any:
    return client.post(
        "/oidc/token",
        data={"grant_type": "client_credentials", **data},
        headers=basic(SERVICE, SERVICE_SECRET),
    )


def test_issue_5_client_credentials_give_a_service_its_own_token(client: FlaskClient) -> None:
    answer = service_token(client, scope="istanze")

    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert "refresh_token" not in body and "id_token" not in body
    header, claims = verify(client, body["access_token"])
    assert header["typ"] == "at+jwt"
    assert claims["sub"] == SERVICE and claims["client_id"] == SERVICE and claims["roles"] == ["ops"]
    assert claims["aud"] == ["urn:polis:istanze"] and claims["scope"] == "istanze"


def test_issue_5_client_credentials_default_to_the_client_api_scopes(client: FlaskClient) -> None:
    claims = verify(client, service_token(client).get_json()["access_token"])[1]

    assert claims["scope"] == "istanze enablement"
    assert claims["aud"] == ["urn:polis:istanze", "urn:polis:enablement"]


@pytest.mark.parametrize(
    ("headers", "data", "status", "error"),
    [
        (basic(SERVICE, "wrong"), {"grant_type": "client_credentials"}, 401, "invalid_client"),
        ({}, {"grant_type": "client_credentials", "client_id": SERVICE}, 401, "invalid_client"),
        (
            basic(SERVICE, SERVICE_SECRET),
            {"grant_type": "client_credentials", "scope": "iam"},
            400,
            "invalid_scope",
        ),
        (
            basic(SERVICE, SERVICE_SECRET),
            {"grant_type": "client_credentials", "scope": "openid"},
            400,
            "invalid_scope",
        ),
        (PORTAL_AUTH, {"grant_type": "client_credentials"}, 400, "unauthorized_client"),
        (basic(SERVICE, SERVICE_SECRET), {"grant_type": "password"}, 400, "unsupported_grant_type"),
        (basic(SERVICE, SERVICE_SECRET), {"grant_type": "refresh_token"}, 400, "unauthorized_client"),
        (PORTAL_AUTH, {"grant_type": "refresh_token"}, 400, "invalid_request"),
        (PORTAL_AUTH, {}, 400, "unsupported_grant_type"),
    ],
)
def test_issue_5_bad_token_requests_get_the_standard_errors(
    client: FlaskClient, headers: dict[str, str], data: dict[str, str], status: int, error: str
) -> None:
    answer = client.post("/oidc/token", data=data, headers=headers)

    assert answer.status_code == status, answer.get_json()
    assert answer.get_json()["error"] == error


def test_issue_17_a_code_used_twice_is_refused_and_revokes_what_its_first_use_issued(
    client: FlaskClient,
) -> None:
    """RFC 6749 4.1.2: deny the second use, and revoke the tokens previously issued from the code."""
    make_account()
    first = full_login(client)
    token = first["token"]
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    assert client.get("/oidc/userinfo", headers=bearer).status_code == 200

    replay = exchange(client, first["params"]["code"], first["verifier"])  # an attacker's copy of the code

    assert replay.status_code == 400 and replay.get_json()["error"] == "invalid_grant"
    assert client.get("/oidc/userinfo", headers=bearer).status_code == 401
    assert refresh(client, token["refresh_token"]).get_json()["error"] == "invalid_grant"
    assert introspect(client, token["access_token"]).get_json() == {"active": False}
    with db.transaction() as session:
        [row] = session.scalars(select(AuthorizationCode)).all()
        assert row.used_at is not None and row.reused_at is not None and row.issued_jti is not None


def test_issue_17_codes_are_purged_a_day_after_they_expire_used_or_not(client: FlaskClient) -> None:
    from iam.oidc import codes

    make_account()
    full_login(client)  # one spent code
    with db.transaction() as session:
        [row] = session.scalars(select(AuthorizationCode)).all()
        expires_at = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=UTC)

    assert codes.purge(db, now=expires_at + timedelta(hours=23)) == 0
    assert codes.purge(db, now=expires_at + timedelta(days=1, seconds=1)) == 1
    with db.transaction() as session:
        assert session.scalars(select(AuthorizationCode)).all() == []


def test_issue_5_an_expired_code_is_refused(client: FlaskClient) -> None:
    make_account()
    verifier, challenge = pkce()
    back = sign_in_at(client, client.get(authorize_url(challenge)))
    code = code_from(back.location)["code"]
    with db.transaction() as session:
        session.execute(update(AuthorizationCode).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))

    answer = exchange(client, code, verifier)

    assert answer.status_code == 400 and answer.get_json()["error"] == "invalid_grant"


# --- revocation and introspection -------------------------------------------------------------------------


def revoke(client: FlaskClient, token: str, headers: dict[str, str] = PORTAL_AUTH, **extra: str) -> Any:
    return client.post("/oidc/revoke", data={"token": token, **extra}, headers=headers)


def introspect(client: FlaskClient, token: str, headers: dict[str, str] = PORTAL_AUTH) -> Any:
    return client.post("/oidc/introspect", data={"token": token}, headers=headers)


def test_issue_5_revoking_a_refresh_token_ends_its_family_and_access_tokens(client: FlaskClient) -> None:
    make_account()
    token = full_login(client)["token"]

    answer = revoke(client, token["refresh_token"], token_type_hint="refresh_token")

    assert answer.status_code == 200
    assert refresh(client, token["refresh_token"]).get_json()["error"] == "invalid_grant"
    assert introspect(client, token["access_token"]).get_json() == {"active": False}


def test_issue_5_revoking_an_access_token_ends_it_at_userinfo(client: FlaskClient) -> None:
    make_account()
    token = full_login(client)["token"]
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    assert client.get("/oidc/userinfo", headers=bearer).status_code == 200

    assert revoke(client, token["access_token"]).status_code == 200

    assert client.get("/oidc/userinfo", headers=bearer).status_code == 401
    assert refresh(client, token["refresh_token"]).status_code == 200  # the grant itself stands


def test_issue_5_a_revoked_service_token_is_no_longer_active(client: FlaskClient) -> None:
    service = basic(SERVICE, SERVICE_SECRET)
    token = service_token(client).get_json()["access_token"]
    assert introspect(client, token, service).get_json()["active"] is True

    assert revoke(client, token, service).status_code == 200

    assert introspect(client, token, service).get_json() == {"active": False}


def test_issue_5_revocation_answers_as_rfc_7009_says(client: FlaskClient) -> None:
    make_account()
    token = full_login(client)["token"]

    unknown = revoke(client, "never-issued")
    other_client = revoke(client, token["refresh_token"], basic(OTHER, OTHER_SECRET))
    missing = client.post("/oidc/revoke", data={}, headers=PORTAL_AUTH)
    anonymous = client.post("/oidc/revoke", data={"token": token["refresh_token"]})

    assert unknown.status_code == 200
    assert other_client.status_code == 400 and other_client.get_json()["error"] == "invalid_grant"
    assert missing.status_code == 400 and missing.get_json()["error"] == "invalid_request"
    assert anonymous.status_code == 401 and anonymous.get_json()["error"] == "invalid_client"
    assert refresh(client, token["refresh_token"]).status_code == 200  # none of them revoked it


def test_issue_5_introspection_describes_an_active_token_to_its_client(client: FlaskClient) -> None:
    account_id = make_account()
    token = full_login(client)["token"]

    access = introspect(client, token["access_token"]).get_json()
    refresh_info = introspect(client, token["refresh_token"]).get_json()
    foreign = introspect(client, token["access_token"], basic(OTHER, OTHER_SECRET))

    assert access["active"] is True and access["sub"] == str(account_id)
    assert access["client_id"] == PORTAL and access["username"] == "mario.rossi" and access["iss"] == ISSUER
    assert refresh_info["active"] is True and refresh_info["token_type"] == "refresh_token"
    assert foreign.get_json().get("active") is not True


# --- prompt and max_age -------------------------------------------------------------------------------------


def test_issue_5_prompt_none_without_a_session_answers_login_required(client: FlaskClient) -> None:
    _, challenge = pkce()

    answer = client.get(authorize_url(challenge, prompt="none"))

    assert answer.status_code == 302
    assert code_from(answer.location)["error"] == "login_required"


def test_issue_5_prompt_none_with_a_session_gives_a_code_silently(client: FlaskClient) -> None:
    make_account()
    full_login(client)
    _, challenge = pkce()

    answer = client.get(authorize_url(challenge, prompt="none"))

    assert "code" in code_from(answer.location)


@pytest.mark.parametrize("extra", [{"prompt": "login"}, {"max_age": "0"}])
def test_issue_5_prompt_login_and_max_age_ask_for_the_password_again(
    client: FlaskClient, extra: dict[str, str]
) -> None:
    make_account()
    first = full_login(client)
    auth_time = verify(client, first["token"]["id_token"])[1]["auth_time"]
    verifier, challenge = pkce()

    asked = client.get(authorize_url(challenge, **extra))
    assert asked.status_code == 200 and 'action="/iam/accedi"' in asked.get_data(as_text=True)
    back = sign_in_at(client, asked)
    token = exchange(client, code_from(back.location)["code"], verifier)

    assert token.status_code == 200
    assert verify(client, token.get_json()["id_token"])[1]["auth_time"] >= auth_time


def test_issue_5_max_age_within_the_session_needs_no_password(client: FlaskClient) -> None:
    make_account()
    full_login(client)
    _, challenge = pkce()

    answer = client.get(authorize_url(challenge, max_age="3600"))

    assert "code" in code_from(answer.location)


def test_issue_5_a_malformed_max_age_goes_back_as_invalid_request(client: FlaskClient) -> None:
    _, challenge = pkce()

    answer = client.get(authorize_url(challenge, max_age="soon"))

    assert code_from(answer.location)["error"] == "invalid_request"


def test_issue_5_discovery_states_the_new_endpoints_and_grants(client: FlaskClient) -> None:
    doc = client.get("/.well-known/openid-configuration").get_json()

    assert doc["revocation_endpoint"] == f"{ISSUER}/oidc/revoke"
    assert doc["introspection_endpoint"] == f"{ISSUER}/oidc/introspect"
    assert set(doc["grant_types_supported"]) == {"authorization_code", "refresh_token", "client_credentials"}
    assert set(doc["id_token_signing_alg_values_supported"]) == {"ES256", "RS256"}
    assert doc["backchannel_logout_supported"] is True and doc["backchannel_logout_session_supported"] is True
    assert "https://attributes.eid.gov.it/fiscal_number" in doc["claims_supported"]


def test_issue_5_the_login_page_names_the_client_origin_its_form_ends_at(client: FlaskClient) -> None:
    _, challenge = pkce()
    partner = authorize_url(challenge, client_id=OTHER, redirect_uri="https://other.example.org/cb")
    forged = authorize_url(challenge, client_id=OTHER, redirect_uri="https://evil.example.net/cb")

    to_partner = client.get(partner)  # authorize answers with the login page (issue 18)
    to_forged = client.get("/iam/accedi?" + urlencode({"next": forged}))

    # The browser checks form-action along the redirects after the POST: the gateway widens it for this page.
    assert to_partner.status_code == 200
    assert to_partner.headers["X-Polis-Form-Action"] == "https://other.example.org"
    assert "X-Polis-Form-Action" not in to_forged.headers


def test_issue_5_the_ops_api_takes_a_service_token_with_the_ops_role(client: FlaskClient) -> None:
    token = client.post(
        "/oidc/token", data={"grant_type": "client_credentials"}, headers=basic(OPS_CLIENT, OPS_SECRET)
    ).get_json()["access_token"]

    listed = client.get("/api/iam/v1/ops/oidc-clients", headers={"Authorization": f"Bearer {token}"})

    assert listed.status_code == 200
    assert {entry["client_id"] for entry in listed.get_json()["clients"]} >= {PORTAL, SERVICE, OPS_CLIENT}


def test_issue_5_the_ops_api_refuses_tokens_without_the_ops_role(client: FlaskClient) -> None:
    make_account()
    user_token = login_with_scope(client, "openid iam")["access_token"]
    service = service_token(client).get_json()["access_token"]  # roles ops, but not for IAM's API

    as_user = client.get("/api/iam/v1/ops/oidc-clients", headers={"Authorization": f"Bearer {user_token}"})
    as_other_api = client.get("/api/iam/v1/ops/oidc-clients", headers={"Authorization": f"Bearer {service}"})
    forged = client.get("/api/iam/v1/ops/oidc-clients", headers={"Authorization": "Bearer a.b.c"})

    assert as_user.status_code == 403 and as_user.get_json()["error"]["code"] == "ops_role_required"
    assert as_other_api.status_code == 403
    assert forged.status_code == 401


def test_issue_5_a_logout_ends_an_access_token_issued_without_a_refresh_token(
    app: Flask, client: FlaskClient
) -> None:
    with app.app_context():
        clients.ensure(
            db,
            client_id=PORTAL,
            name="Istanze OnLine",
            secret=PORTAL_SECRET,
            redirect_uris=[CALLBACK],
            post_logout_redirect_uris=[f"{ISSUER}/"],
            grant_types=["authorization_code"],  # no refresh tokens for this client
        )
    clients.forget_cached()
    make_account()
    token = full_login(client)["token"]
    assert "refresh_token" not in token
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    assert client.get("/oidc/userinfo", headers=bearer).status_code == 200

    client.get("/oidc/logout")  # RP-initiated logout: the SSO session ends

    assert client.get("/oidc/userinfo", headers=bearer).status_code == 401


def test_issue_5_a_refresh_token_spent_by_a_racing_request_ends_the_family(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from iam.oidc import grants as provider
    from iam.oidc.models import RefreshToken

    make_account()
    token = full_login(client)["token"]
    read = provider.RefreshGrant.authenticate_refresh_token

    def read_then_lose_the_race(grant: Any, refresh_token: str) -> Any:
        record = read(grant, refresh_token)
        with db.transaction() as session:  # another request spends it between this read and the write
            session.execute(update(RefreshToken).values(used_at=datetime.now(UTC)))
        return record

    monkeypatch.setattr(provider.RefreshGrant, "authenticate_refresh_token", read_then_lose_the_race)

    answer = refresh(client, token["refresh_token"])

    assert answer.status_code == 400 and answer.get_json()["error"] == "invalid_grant"
    with db.transaction() as session:
        assert all(row.revoked_at is not None for row in session.scalars(select(RefreshToken)))
    userinfo = client.get("/oidc/userinfo", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert userinfo.status_code == 401  # the family's access token ended with it
