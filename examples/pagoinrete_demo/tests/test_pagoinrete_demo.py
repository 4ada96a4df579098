"""Unit tests of the partner demo (issue 5 item 6): settings, the session record, the logout token's checks
(Back-Channel Logout 1.0 section 2.6) and the views with a stand-in for IAM's metadata and keys. The flow
against the real IAM is in tests/test_partner_sso_e2e.py."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet
from pagoinrete_demo import create_app
from pagoinrete_demo.logout_token import BACKCHANNEL_EVENT, InvalidLogoutToken, LogoutRequest, verify
from pagoinrete_demo.sessions import SessionRegistry
from pagoinrete_demo.settings import Secret, Settings, SettingsError

ISSUER = "http://iam.example"
CLIENT_ID = "pagoinrete"
KEY = ECKey.generate_key("P-256", parameters={"kid": "key-1"}, private=True)


def keys_of(*keys: ECKey) -> KeySet:
    return KeySet.import_key_set({"keys": [key.as_dict(private=False) for key in keys]})


def logout_claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": CLIENT_ID,
        "iat": now,
        "exp": now + 120,
        "jti": "jti-1",
        "sub": "account-1",
        "sid": "sso-1",
        "events": {BACKCHANNEL_EVENT: {}},
    }
    claims.update(overrides)
    return {key: value for key, value in claims.items() if value is not None}


def logout_token(key: ECKey = KEY, typ: str = "logout+jwt", **overrides: Any) -> str:
    header = {"alg": "ES256", "kid": key.kid, "typ": typ}
    return jwt.encode(header, logout_claims(**overrides), key)


def check(token: str, keys: KeySet | None = None) -> LogoutRequest:
    key_set = keys or keys_of(KEY)
    return verify(token, keys=lambda _force: key_set, issuer=ISSUER, client_id=CLIENT_ID)


# --- settings ------------------------------------------------------------------------------------------


def test_production_refuses_to_start_without_its_secrets() -> None:
    with pytest.raises(SettingsError, match="PAGOINRETE_ISSUER"):
        Settings.from_environ({"POLIS_ENV": "production"})
    with pytest.raises(SettingsError, match="PAGOINRETE_CLIENT_SECRET"):
        Settings.from_environ(
            {"PAGOINRETE_ISSUER": "https://iam.example", "PAGOINRETE_BASE_URL": "https://pago.example"}
        )


def test_development_has_defaults_and_never_shows_a_secret() -> None:
    settings = Settings.from_environ({"POLIS_ENV": "dev", "PAGOINRETE_CLIENT_SECRET": "s3cr3t-value"})

    assert settings.issuer == "http://localhost:8080"
    assert settings.redirect_uri == "http://localhost:8090/auth/callback"
    assert settings.client_secret == "s3cr3t-value"
    assert "s3cr3t-value" not in repr(settings)
    assert "s3cr3t" not in repr(Secret("s3cr3t"))
    assert settings.secure_cookies is False
    assert Settings.from_environ({"POLIS_ENV": "production", **production_env()}).secure_cookies is True


def production_env() -> dict[str, str]:
    return {
        "PAGOINRETE_ISSUER": "https://iam.example/",
        "PAGOINRETE_BASE_URL": "https://pago.example",
        "PAGOINRETE_CLIENT_SECRET": "x" * 32,
        "PAGOINRETE_SECRET_KEY": "y" * 32,
    }


# --- the session record --------------------------------------------------------------------------------


def test_a_logout_by_sid_ends_only_that_iam_sessions_local_sessions() -> None:
    registry = SessionRegistry(3600)
    first = registry.open(sub="a", sid="sso-1", claims={}, id_token="t1")
    second = registry.open(sub="a", sid="sso-2", claims={}, id_token="t2")

    assert registry.close_matching(sub="a", sid="sso-1") == 1
    assert registry.get(first) is None
    assert registry.get(second) is not None
    # A sid with someone else's sub names nothing.
    assert registry.close_matching(sub="b", sid="sso-2") == 0


def test_a_logout_by_sub_alone_ends_every_session_of_that_user() -> None:
    registry = SessionRegistry(3600)
    mine = [registry.open(sub="a", sid=sid, claims={}, id_token="t") for sid in ("s1", "s2")]
    other = registry.open(sub="b", sid="s3", claims={}, id_token="t")

    assert registry.close_matching(sub="a", sid=None) == 2
    assert all(registry.get(key) is None for key in mine)
    assert registry.get(other) is not None
    assert registry.close_matching(sub=None, sid=None) == 0


def test_a_session_older_than_its_lifetime_is_gone() -> None:
    now = [1000.0]
    registry = SessionRegistry(60, clock=lambda: now[0])
    key = registry.open(sub="a", sid="s", claims={}, id_token="t")
    now[0] += 59
    assert registry.get(key) is not None
    now[0] += 1
    assert registry.get(key) is None
    assert len(registry) == 0


# --- logout token checks (section 2.6) -----------------------------------------------------------------


def test_a_valid_logout_token_names_the_sub_and_the_sid() -> None:
    assert check(logout_token()) == LogoutRequest(sub="account-1", sid="sso-1")
    assert check(logout_token(aud=[CLIENT_ID, "other"], sub=None)) == LogoutRequest(sub=None, sid="sso-1")
    assert check(logout_token(typ="application/logout+jwt", exp=None)).sid == "sso-1"


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (lambda: logout_token(iss="http://elsewhere"), "wrong issuer"),
        (lambda: logout_token(aud="another-client"), "not addressed"),
        (lambda: logout_token(typ="JWT"), "typ"),  # an ID token is not a logout token
        (lambda: logout_token(events={"other": {}}), "no back-channel logout event"),
        (lambda: logout_token(events={BACKCHANNEL_EVENT: "yes"}), "no back-channel logout event"),
        (lambda: logout_token(nonce="n"), "nonce"),
        (lambda: logout_token(iat=int(time.time()) - 3600, exp=None), "not recent"),
        (lambda: logout_token(iat=int(time.time()) + 3600), "not recent"),
        (lambda: logout_token(iat=None), "iat missing"),
        (lambda: logout_token(exp=int(time.time()) - 300), "expired"),
        (lambda: logout_token(sub=None, sid=None), "neither sub nor sid"),
        (lambda: "", "missing"),
        (lambda: "not.a.jwt", "not a JWT"),
    ],
)
def test_a_logout_token_failing_a_check_is_refused(token: Any, reason: str) -> None:
    with pytest.raises(InvalidLogoutToken, match=reason):
        check(token())


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_alg_none_and_hs256_with_the_public_key_are_refused() -> None:
    claims = b64(json.dumps(logout_claims()).encode())
    unsigned = f"{b64(json.dumps({'alg': 'none', 'typ': 'logout+jwt'}).encode())}.{claims}."
    header = b64(json.dumps({"alg": "HS256", "kid": KEY.kid, "typ": "logout+jwt"}).encode())
    public = json.dumps(KEY.as_dict(private=False)).encode()
    mac = hmac.new(public, f"{header}.{claims}".encode(), hashlib.sha256).digest()

    for token in (unsigned, f"{header}.{claims}.{b64(mac)}"):
        with pytest.raises(InvalidLogoutToken, match="not a JWT signed by the issuer"):
            check(token)


def test_a_new_key_of_the_issuer_is_fetched_once_and_an_unknown_one_refused() -> None:
    rotated = ECKey.generate_key("P-256", parameters={"kid": "key-2"}, private=True)
    calls: list[bool] = []

    def keys(force: bool) -> KeySet:
        calls.append(force)
        return keys_of(KEY, rotated) if force else keys_of(KEY)

    assert verify(logout_token(rotated), keys=keys, issuer=ISSUER, client_id=CLIENT_ID).sid == "sso-1"
    assert calls == [False, True]

    stranger = ECKey.generate_key("P-256", parameters={"kid": "key-x"}, private=True)
    with pytest.raises(InvalidLogoutToken):
        verify(logout_token(stranger), keys=keys, issuer=ISSUER, client_id=CLIENT_ID)
    # A key with a known kid but another private key: the signature fails.
    impostor = ECKey.generate_key("P-256", parameters={"kid": "key-1"}, private=True)
    with pytest.raises(InvalidLogoutToken):
        check(logout_token(impostor))


# --- views ---------------------------------------------------------------------------------------------


@pytest.fixture
def app() -> Iterator[Flask]:
    settings = Settings.from_environ(
        {"POLIS_ENV": "test", "PAGOINRETE_ISSUER": ISSUER, "PAGOINRETE_BASE_URL": "http://pago.test"}
    )
    app = create_app(settings)
    app.config["TESTING"] = True
    with app.app_context():
        # IAM's discovery document and keys as if already fetched: no network in unit tests.
        app.extensions["authlib.integrations.flask_client"].iam.server_metadata.update(
            {
                "issuer": ISSUER,
                "authorization_endpoint": f"{ISSUER}/oidc/authorize",
                "token_endpoint": f"{ISSUER}/oidc/token",
                "userinfo_endpoint": f"{ISSUER}/oidc/userinfo",
                "end_session_endpoint": f"{ISSUER}/oidc/logout",
                "jwks_uri": f"{ISSUER}/oidc/jwks",
                "jwks": {"keys": [KEY.as_dict(private=False)]},
                "id_token_signing_alg_values_supported": ["ES256", "RS256"],
                "_loaded_at": time.time(),
            }
        )
    yield app


def signed_in(app: Flask, client: FlaskClient, sid: str = "sso-1") -> str:
    registry: SessionRegistry = app.extensions["pagoinrete.sessions"]
    session_id = registry.open(
        sub="account-1",
        sid=sid,
        claims={
            "sub": "account-1",
            "name": "Mario Rossi",
            "preferred_username": "mario.rossi",
            "email": "mario.rossi@example.org",
            "email_verified": True,
            "https://attributes.eid.gov.it/fiscal_number": "RSSMRA80A01H501U",
        },
        id_token="the-id-token",
    )
    with client.session_transaction() as session:
        session["session_id"] = session_id
    return session_id


def test_the_home_offers_the_login_and_then_shows_the_claims(app: Flask) -> None:
    client = app.test_client()
    page = client.get("/").get_data(as_text=True)
    assert "Accedi con le credenziali di Istanze OnLine" in page

    signed_in(app, client)
    page = client.get("/").get_data(as_text=True)

    assert "mario.rossi" in page and "Mario Rossi" in page and "RSSMRA80A01H501U" in page
    assert "Accedi con le credenziali" not in page


def test_the_session_cookie_is_http_only_and_same_site_lax(app: Flask) -> None:
    client = app.test_client()
    client.get("/login")
    cookie = client.get_cookie("pagoinrete_session")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Lax"


def test_login_sends_the_browser_to_iam_with_pkce_s256_state_and_nonce(app: Flask) -> None:
    response = app.test_client().get("/login")

    assert response.status_code == 302
    location = urllib.parse.urlsplit(response.headers["Location"])
    query = dict(urllib.parse.parse_qsl(location.query))
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{ISSUER}/oidc/authorize"
    assert query["response_type"] == "code" and query["client_id"] == CLIENT_ID
    assert query["redirect_uri"] == "http://pago.test/auth/callback"
    assert query["scope"] == "openid profile email fiscal_number"
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert query["state"] and query["nonce"]


def test_a_callback_without_the_matching_state_is_refused(app: Flask) -> None:
    response = app.test_client().get("/auth/callback?code=abc&state=forged")
    assert response.status_code == 400
    assert "Accesso non riuscito" in response.get_data(as_text=True)


def test_logout_ends_the_local_session_and_goes_to_iams_end_session(app: Flask) -> None:
    client = app.test_client()
    session_id = signed_in(app, client)
    assert client.get("/logout").status_code == 405  # POST only: no logout by a link from another site

    response = client.post("/logout")

    assert response.status_code == 302
    location = urllib.parse.urlsplit(response.headers["Location"])
    query = dict(urllib.parse.parse_qsl(location.query))
    assert location.path == "/oidc/logout"
    assert query["id_token_hint"] == "the-id-token"
    assert query["post_logout_redirect_uri"] == "http://pago.test/"
    assert query["client_id"] == CLIENT_ID and query["state"]
    assert app.extensions["pagoinrete.sessions"].get(session_id) is None
    # Back from IAM with the state: the home confirms the logout.
    page = client.get(f"/?state={query['state']}").get_data(as_text=True)
    assert "Sei uscito da Pago in rete" in page


def test_a_back_channel_logout_ends_the_session_of_that_sid(app: Flask) -> None:
    client = app.test_client()
    signed_in(app, client, sid="sso-1")
    other = app.test_client()
    signed_in(app, other, sid="sso-2")

    response = app.test_client().post("/backchannel-logout", data={"logout_token": logout_token(sid="sso-1")})

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    page = client.get("/").get_data(as_text=True)
    assert "La sessione è terminata" in page and "Accedi con le credenziali" in page
    assert "mario.rossi" in other.get("/").get_data(as_text=True)


def test_a_bad_back_channel_logout_gets_the_oauth_error_and_ends_nothing(app: Flask) -> None:
    client = app.test_client()
    signed_in(app, client)

    for form in ({"logout_token": logout_token(aud="someone-else")}, {}):
        response = app.test_client().post("/backchannel-logout", data=form)
        assert response.status_code == 400
        assert response.get_json()["error"] == "invalid_request"
    assert "mario.rossi" in client.get("/").get_data(as_text=True)


def test_healthz() -> None:
    settings = Settings.from_environ({"POLIS_ENV": "test"})
    assert create_app(settings).test_client().get("/healthz").get_json() == {"status": "ok"}
