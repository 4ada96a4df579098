"""Findings of the security probe (issue 11) that have no better home: each test failed on the code before."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from iam import create_app
from iam.accounts import temporary_passwords as temporary
from iam.extensions import db
from iam.models import all_metadata
from iam_recovery_support import CF_MARIO, app_config, captcha, make_account
from polis.testing import free_port


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    app = create_app(app_config(database_url, free_port()))
    all_metadata().create_all(db.engine)
    yield app
    db.dispose()


@pytest.fixture
def hashes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every argon2 run and every temporary-password digest the recovery computes."""
    made: list[str] = []
    real_digest = temporary.digest
    real_hash, real_verify = PasswordHasher.hash, PasswordHasher.verify

    def digest(secret: str) -> str:
        made.append("digest")
        return real_digest(secret)

    def argon2_hash(self: PasswordHasher, secret: str | bytes, **kwargs: object) -> str:
        made.append("argon2")
        return real_hash(self, secret, **kwargs)  # type: ignore[arg-type]

    def argon2_verify(self: PasswordHasher, hash: str | bytes, secret: str | bytes) -> bool:
        made.append("argon2")
        return real_verify(self, hash, secret)

    monkeypatch.setattr(temporary, "digest", digest)
    monkeypatch.setattr(PasswordHasher, "hash", argon2_hash)
    monkeypatch.setattr(PasswordHasher, "verify", argon2_verify)
    return made


def test_d_acc_6_the_captcha_is_checked_before_any_argon2_work(
    app: Flask, client: FlaskClient, hashes: list[str]
) -> None:
    make_account(db)
    hashes.clear()  # the account's own password hash
    refused = client.post(
        "/api/iam/v1/recovery/password",
        json={"username": "mario.rossi", "codice_fiscale": CF_MARIO, "captcha": "wrong"},
    )
    assert refused.status_code == 400
    assert refused.get_json()["error"]["fields"] == {"captcha": ["captcha_failed"]}
    assert hashes == []  # before: one argon2 hash per request, solved captcha or not

    accepted = client.post(
        "/api/iam/v1/recovery/password",
        json={"username": "mario.rossi", "codice_fiscale": CF_MARIO, "captcha": captcha()},
    )
    assert accepted.status_code == 202
    # The uniform work still happens once the captcha is solved: one digest (issue 11 item 2: a temporary
    # password is kept as a digest, so no argon2 run at all).
    assert hashes == ["digest"]


def test_with_secure_cookies_iams_cookies_carry_the_host_prefix(database_url: str) -> None:
    """Issue 11 item 6: in production (Secure cookies) every IAM cookie is __Host-: Secure, Path=/, no
    Domain, so a sibling host or a plain-http page cannot set or shadow it."""
    import re

    from oidc_helpers import PASSWORD, make_app
    from oidc_helpers import make_account as make_login_account

    secure = {"SSO_SECURE_COOKIE": True, "REGISTRATION_SECURE_COOKIE": True, "SESSION_COOKIE_SECURE": True}
    secure["SESSION_COOKIE_NAME"] = "__Host-iam_session"  # what production settings give (unit-tested)
    for app in make_app(database_url, **secure):
        make_login_account()
        client = app.test_client()
        page = client.get("/iam/accedi", base_url="https://localhost")
        assert "__Host-iam_session=" in page.headers["Set-Cookie"]
        match = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
        assert match
        token = match.group(1)
        response = client.post(
            "/iam/accedi",
            data={"username": "mario.rossi", "password": PASSWORD, "next": "/", "csrf_token": token},
            base_url="https://localhost",
            headers={"Referer": "https://localhost/iam/accedi"},  # Flask-WTF's check over https
        )
        assert response.status_code == 303
        cookies = response.headers.getlist("Set-Cookie")
        [sso] = [c for c in cookies if c.startswith("__Host-iam_sso=")]
        assert "Secure" in sso and "Path=/" in sso and "Domain" not in sso
        assert not any(c.startswith("iam_sso=") for c in cookies)
        # The signed-in page reads the prefixed cookie.
        assert client.get("/iam/area-riservata", base_url="https://localhost").status_code == 200

        # The registration's cookie (set by its pages once the first step is done).
        from flask import Response
        from iam.registration import views as registration_views

        with app.test_request_context("/iam/registrazione", base_url="https://localhost"):
            response = Response()
            registration_views.set_registration_cookie(response, "token")
            [registration] = response.headers.getlist("Set-Cookie")
        assert registration.startswith("__Host-iam_registration=") and "Secure" in registration
        assert "Path=/" in registration and "Domain" not in registration
