"""Shared helpers of the oidc tests: a fast-argon2 IAM app, accounts, the portal client, PKCE."""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from flask import Flask
from flask.testing import FlaskClient
from iam import create_app
from iam.accounts import temporary_passwords as temporary
from iam.accounts.models import Account, AccountState
from iam.clients import service as clients
from iam.extensions import db
from iam.models import all_metadata
from iam.passwords.hashing import hash_secret, hasher
from polis.testing import free_port

# A cheap argon2 cost for tests (production: the OWASP m=19 MiB, t=2).
FAST_ARGON2 = {"ARGON2_MEMORY_KIB": 256, "ARGON2_TIME_COST": 1}
FAST = hasher(256, 1)
ISSUER = "http://localhost:8080"
PORTAL = "portal"
PORTAL_SECRET = "portal-test-secret-0123456789"
CALLBACK = "http://localhost:8080/accedi/callback"
AFTER_LOGOUT = "http://localhost:8080/"
PASSWORD = "una frase lunga e facile da ricordare"


def make_app(database_url: str, **overrides: Any) -> Iterator[Flask]:
    config = {
        "DATABASE_URL": database_url,
        "BROKER_URL": f"amqp://guest:guest@127.0.0.1:{free_port()}/%2F",
        "OIDC_ISSUER": ISSUER,
        **FAST_ARGON2,
        **overrides,
    }
    app = create_app(config)
    all_metadata().create_all(db.engine)
    clients.ensure(
        db,
        client_id=PORTAL,
        name="Istanze OnLine",
        secret=PORTAL_SECRET,
        redirect_uris=[CALLBACK],
        post_logout_redirect_uris=[AFTER_LOGOUT],
    )
    yield app
    db.dispose()


def make_account(
    *,
    username: str = "mario.rossi",
    password: str | None = PASSWORD,
    state: str = AccountState.ACTIVE.value,
    personal_email: str | None = "mario@example.org",
    institutional_email: str | None = None,
) -> uuid.UUID:
    now = datetime.now(UTC)
    account = Account(
        id=uuid.uuid4(),
        username=username,
        state=state,
        kind="ordinary",
        roles=[],
        codice_fiscale="RSSMRA80A01H501U" if username == "mario.rossi" else secrets.token_hex(8).upper(),
        first_name="Mario",
        last_name="Rossi",
        personal_email=personal_email,
        personal_email_verified_at=now if personal_email else None,
        institutional_email=institutional_email,
        language="it",
        password_hash=hash_secret(password, ph=FAST) if password else None,
        credentials_version=1,
        failed_logins=0,
        created_at=now,
        activated_at=now,
    )
    with db.transaction() as session:
        session.add(account)
    return account.id


def issue_temporary_password(account_id: uuid.UUID, password: str, *, minutes: int = 30) -> None:
    with db.transaction() as session:  # as the recovery does: it replaces a live one
        temporary.store(
            session,
            account_id=account_id,
            password=password,
            issued_by="self_service",
            ttl=timedelta(minutes=minutes),
        )


def get_account(account_id: uuid.UUID) -> Account:
    with db.transaction() as session:
        return session.get_one(Account, account_id)


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_url(challenge: str, *, state: str = "st-1", nonce: str = "n-1", **extra: str) -> str:
    params = {
        "response_type": "code",
        "client_id": PORTAL,
        "redirect_uri": CALLBACK,
        "scope": "openid profile email",
        "state": state,
        "nonce": nonce,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }
    return "/oidc/authorize?" + urlencode(params)


def csrf_token(client: FlaskClient, path: str = "/iam/accedi") -> str:
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


def login(
    client: FlaskClient, username: str = "mario.rossi", password: str = PASSWORD, next_path: str = "/"
) -> Any:
    data = {"username": username, "password": password, "next": next_path, "csrf_token": csrf_token(client)}
    return client.post("/iam/accedi", data=data)


def change_password(client: FlaskClient, new: str, confirm: str | None = None, next_path: str = "/") -> Any:
    token = csrf_token(client, "/iam/cambio-password?next=/")
    data = {"new_password": new, "confirm_password": new if confirm is None else confirm, "next": next_path}
    return client.post("/iam/cambio-password", data={**data, "csrf_token": token})


def login_form_fields(page: str) -> tuple[str, str]:
    """The `next` and CSRF token of the login form in `page`."""
    next_match = re.search(r'name="next" value="([^"]+)"', page)
    token_match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert next_match and token_match, page
    return html.unescape(next_match.group(1)), token_match.group(1)


def asks_for_the_password(response: Any) -> bool:
    """Whether an authorize answer is the login form (issue 18: shown by the endpoint itself)."""
    return response.status_code == 200 and 'action="/iam/accedi"' in response.get_data(as_text=True)


def sign_in_at(
    client: FlaskClient, form_page: Any, username: str = "mario.rossi", password: str = PASSWORD
) -> Any:
    """Fill in the login form that GET /oidc/authorize answered with (issue 18); the login's answer."""
    assert form_page.status_code == 200, form_page.get_data(as_text=True)[:500]
    next_path, token = login_form_fields(form_page.get_data(as_text=True))
    data = {"username": username, "password": password, "next": next_path, "csrf_token": token}
    return client.post("/iam/accedi", data=data)


def code_from(location: str) -> dict[str, str]:
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == CALLBACK
    return {key: values[0] for key, values in parse_qs(parts.query).items()}


def full_login(
    client: FlaskClient, *, username: str = "mario.rossi", password: str = PASSWORD
) -> dict[str, Any]:
    """The browser part of the flow: authorize -> login page -> code; then the token exchange."""
    verifier, challenge = pkce()
    first = client.get(authorize_url(challenge))
    posted = sign_in_at(client, first, username, password)
    assert posted.status_code == 303, posted.get_data(as_text=True)
    params = code_from(posted.location)  # the code straight from the login (issue 18)
    token = exchange(client, params["code"], verifier)
    assert token.status_code == 200, token.get_json()
    return {"params": params, "token": token.get_json(), "verifier": verifier}


def exchange(client: FlaskClient, code: str, verifier: str, *, secret: str = PORTAL_SECRET) -> Any:
    return client.post(
        "/oidc/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": CALLBACK,
            "code_verifier": verifier,
        },
        headers={"Authorization": "Basic " + base64.b64encode(f"{PORTAL}:{secret}".encode()).decode()},
    )


def error_text(response: Any) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))
