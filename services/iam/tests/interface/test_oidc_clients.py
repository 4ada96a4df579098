"""The client registry and its command; login_required for IAM pages; the portal's demo-data registration."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask, g
from iam.clients import service as clients
from iam.clients.models import OidcClient
from iam.extensions import db
from iam.signin.sessions import login_required
from oidc_helpers import issue_temporary_password, login, make_account, make_app


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    yield from make_app(database_url)


def test_the_command_registers_a_client_idempotently(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARTNER_SECRET", "s3cret-s3cret-s3cret")
    runner = app.test_cli_runner()
    args = [
        "oidc-client",
        "ensure",
        "--client-id",
        "partner",
        "--secret-env",
        "PARTNER_SECRET",
        "--redirect-uri",
        "https://partner.example/cb",
        "--post-logout-redirect-uri",
        "https://partner.example/",
    ]

    first = runner.invoke(args=args)
    second = runner.invoke(args=args)

    assert first.exit_code == 0 and "created" in first.output
    assert second.exit_code == 0 and "unchanged" in second.output
    with db.transaction() as session:
        row = session.get_one(OidcClient, "partner")
        assert row.redirect_uris == ["https://partner.example/cb"]
        assert row.secret_hash and "s3cret" not in row.secret_hash  # stored hashed
    client = clients.find(db, "partner")
    assert client is not None and client.check_client_secret("s3cret-s3cret-s3cret")
    assert not client.check_client_secret("wrong")
    assert not client.check_redirect_uri("https://partner.example/cb/more")  # exact match only


def test_the_command_refuses_bad_settings(app: Flask) -> None:
    result = app.test_cli_runner().invoke(
        args=["oidc-client", "ensure", "--client-id", "partner", "--redirect-uri", "javascript:alert(1)"]
    )

    assert result.exit_code != 0
    assert "not an absolute http(s) URI" in result.output


def test_demo_data_registers_the_portal(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["demo-data"])

    assert result.exit_code == 0, result.output
    portal = clients.find(db, "portal")
    assert portal is not None
    assert portal.redirect_uris == [app.config["PUBLIC_BASE_URL"] + "/accedi/callback"]


def test_login_required_sends_anonymous_users_to_the_login_page(app: Flask) -> None:
    app.add_url_rule("/iam/prova", "prova", login_required(lambda: f"ciao {g.account.username}"))
    client = app.test_client()

    anonymous = client.get("/iam/prova?x=1")
    make_account()
    login(client)
    signed_in = client.get("/iam/prova")

    assert anonymous.status_code == 302
    assert anonymous.location == "/iam/accedi?next=%2Fiam%2Fprova%3Fx%3D1"
    assert signed_in.get_data(as_text=True) == "ciao mario.rossi"


def test_login_required_forces_the_change_first(app: Flask) -> None:
    """D-ACC-6: after a temporary password, the change comes before anything else."""
    app.add_url_rule("/iam/prova", "prova", login_required(lambda: "dentro"))
    client = app.test_client()
    account_id = make_account()
    issue_temporary_password(account_id, "Tmp9xQ4pZr7Kw2Ld")
    login(client, password="Tmp9xQ4pZr7Kw2Ld")

    response = client.get("/iam/prova")

    assert response.status_code == 302
    assert response.location.startswith("/iam/cambio-password?next=")
