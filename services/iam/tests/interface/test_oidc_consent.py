"""The consent page for clients that are not first party (issue 5, item 1): asked once, asked again for more
scopes, Consenti goes back to authorize, Nega makes authorize answer access_denied; IAM's session and a CSRF
token are required; Italian and English."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from iam.audit.models import AuditEntry
from iam.clients import service as clients
from iam.extensions import db
from iam.oidc import consent
from iam.oidc.models import Consent
from oidc_helpers import get_account, login, make_account, make_app, pkce
from sqlalchemy import select

PARTNER = "partner"
CALLBACK = "https://partner.example/cb"


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    for app in make_app(database_url):
        clients.ensure(
            db,
            client_id=PARTNER,
            name="Servizio <b>esterno</b>",
            secret="partner-test-secret-0123456789",
            redirect_uris=[CALLBACK],
            scopes=["openid", "profile", "email", "fiscal_number"],
            trusted=False,
        )
        yield app


def authorize_path(scope: str = "openid email", **extra: str) -> str:
    _, challenge = pkce()
    params = {
        "response_type": "code",
        "client_id": PARTNER,
        "redirect_uri": CALLBACK,
        "scope": scope,
        "state": "st-1",
        "nonce": "n-1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }
    return "/oidc/authorize?" + urlencode(params)


def consent_page(client: FlaskClient, next_path: str) -> Any:
    return client.get("/oidc/consent?" + urlencode({"next": next_path}))


def decide(client: FlaskClient, next_path: str, decision: str, *, with_token: bool = True) -> Any:
    page = consent_page(client, next_path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, page
    data = {"next": next_path, "decision": decision}
    if with_token:
        data["csrf_token"] = match.group(1)
    return client.post("/oidc/consent", data=data)


def signed_in(app: Flask) -> tuple[FlaskClient, Any]:
    client = app.test_client()
    account_id = make_account()
    assert login(client).status_code == 303
    return client, account_id


def granted(account_id: Any) -> list[str]:
    with db.transaction() as session:
        row = session.get(Consent, (account_id, PARTNER))
        return list(row.scopes) if row else []


def test_issue_5_item_1_the_page_lists_the_client_and_what_each_scope_releases(app: Flask) -> None:
    client, _ = signed_in(app)

    page = consent_page(client, authorize_path("openid email fiscal_number"))

    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Servizio &lt;b&gt;esterno&lt;/b&gt; chiede di accedere" in text  # the name, escaped
    assert "<b>esterno" not in text
    assert "Il tuo codice fiscale" in text and "Il tuo indirizzo email di riferimento" in text
    assert "Il tuo nome utente" not in text  # profile was not asked
    assert 'value="allow"' in text and "Consenti" in text and 'value="deny"' in text and "Nega" in text
    assert 'name="csrf_token"' in text


def test_the_page_speaks_english_to_english_users(app: Flask) -> None:
    client, _ = signed_in(app)
    client.set_cookie("lang", "en")

    text = consent_page(client, authorize_path("openid profile")).get_data(as_text=True)

    assert "Allow access to your data" in text
    assert "asks to access your Istanze OnLine account" in text
    assert "Your username, your first and last name and your preferred language" in text
    assert ">Allow</button>" in text and ">Deny</button>" in text


def test_issue_5_item_1_allow_records_the_scopes_and_goes_back_to_authorize(app: Flask) -> None:
    client, account_id = signed_in(app)
    next_path = authorize_path("openid email")

    allowed = decide(client, next_path, "allow")
    again = consent_page(client, next_path)
    fewer = consent_page(client, authorize_path("openid"))

    assert allowed.status_code == 303 and allowed.location == next_path
    assert granted(account_id) == ["openid", "email"]
    assert again.status_code == 302 and again.location == next_path  # asked once
    assert fewer.status_code == 302
    assert not consent.needs_consent(db, account_id, clients.find(db, PARTNER), "openid email")  # type: ignore[arg-type]
    with db.transaction() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "oidc_consent.granted")).one()
        assert entry.account_id == account_id
        assert entry.details == {"client_id": PARTNER, "scopes": ["openid", "email"]}


def test_issue_5_item_1_more_scopes_than_granted_ask_again_for_all_and_widen_the_grant(app: Flask) -> None:
    client, account_id = signed_in(app)
    decide(client, authorize_path("openid email"), "allow")
    wider = authorize_path("openid email fiscal_number")

    page = consent_page(client, wider)
    decide(client, wider, "allow")

    assert page.status_code == 200 and "Il tuo codice fiscale" in page.get_data(as_text=True)
    assert granted(account_id) == ["openid", "email", "fiscal_number"]


def test_issue_5_item_1_deny_goes_back_to_authorize_with_the_refusal(app: Flask) -> None:
    client, account_id = signed_in(app)
    next_path = authorize_path("openid email")

    denied = decide(client, next_path, "deny")

    assert denied.status_code == 303
    assert denied.location == next_path + "&consent=denied"
    assert granted(account_id) == []
    with db.transaction() as session:
        assert session.scalars(select(AuditEntry).where(AuditEntry.action == "oidc_consent.denied")).one()


def test_the_page_requires_the_sso_session(app: Flask) -> None:
    client = app.test_client()
    next_path = authorize_path()

    response = consent_page(client, next_path)

    assert response.status_code == 302
    target = urlsplit(response.location)
    assert target.path == "/iam/accedi"
    assert parse_qs(target.query)["next"] == [next_path]  # after the login, authorize runs again


def test_a_post_without_the_csrf_token_is_refused(app: Flask) -> None:
    client, account_id = signed_in(app)

    response = decide(client, authorize_path(), "allow", with_token=False)

    assert response.status_code == 400
    assert granted(account_id) == []


@pytest.mark.parametrize(
    "next_path",
    [
        "https://evil.example/oidc/authorize?client_id=partner&scope=openid",
        "//evil.example/oidc/authorize?client_id=partner&scope=openid",
        "/iam/area-riservata?client_id=partner&scope=openid",
        "/oidc/authorize?client_id=nobody&scope=openid",
        "/oidc/authorize?client_id=partner&scope=superuser",
        "/oidc/authorize?client_id=partner&client_id=portal&scope=openid",
        "",
    ],
)
def test_only_an_authorize_request_of_a_registered_client_gets_the_page(app: Flask, next_path: str) -> None:
    client, account_id = signed_in(app)

    token = re.search(
        r'name="csrf_token" value="([^"]+)"', consent_page(client, authorize_path()).get_data(True)
    )

    shown = consent_page(client, next_path)
    assert token is not None
    posted = client.post(
        "/oidc/consent", data={"next": next_path, "decision": "allow", "csrf_token": token.group(1)}
    )

    assert shown.status_code == 400 and "invalid_request" in shown.get_data(as_text=True)
    assert posted.status_code == 400
    assert granted(account_id) == []


def test_a_decision_other_than_allow_or_deny_changes_nothing(app: Flask) -> None:
    client, account_id = signed_in(app)

    response = decide(client, authorize_path(), "maybe")

    assert response.status_code == 400
    assert granted(account_id) == []


def test_a_trusted_client_goes_straight_back_to_authorize(app: Flask) -> None:
    client, _ = signed_in(app)
    next_path = authorize_path().replace("client_id=partner", "client_id=portal")

    response = consent_page(client, next_path)

    assert response.status_code == 302 and response.location == next_path


# --- with authorize (views.authorize calls consent.needs_consent and honours consent=denied) ----------


def test_issue_5_item_1_authorize_asks_consent_then_gives_the_code(app: Flask) -> None:
    client, account_id = signed_in(app)
    path = authorize_path("openid email")

    first = client.get(path)
    assert first.status_code == 302 and first.location == consent.consent_url(path)
    decide(client, path, "allow")
    back = client.get(path)

    assert back.status_code == 302
    params = parse_qs(urlsplit(back.location).query)
    assert back.location.startswith(CALLBACK + "?") and "code" in params and params["state"] == ["st-1"]
    assert get_account(account_id).username == "mario.rossi"


def test_issue_5_item_1_a_refusal_reaches_the_client_as_access_denied(app: Flask) -> None:
    client, _ = signed_in(app)
    path = authorize_path("openid email")

    denied = decide(client, path, "deny")
    answer = client.get(denied.location)

    assert answer.status_code == 302 and answer.location.startswith(CALLBACK + "?")
    params = parse_qs(urlsplit(answer.location).query)
    assert params["error"] == ["access_denied"] and params["state"] == ["st-1"]
    assert "code" not in params
