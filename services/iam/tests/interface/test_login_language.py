"""Pages in the account's preferred language once logged in (issue 13 item 7): the login goes through the
gateway's language switch when the account's language is not the page's; otherwise straight on."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from iam.accounts.models import Account
from iam.extensions import db
from oidc_helpers import login, make_account, make_app
from sqlalchemy import update


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    yield from make_app(database_url)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def english_account() -> None:
    account_id = make_account()
    with db.transaction() as session:
        session.execute(update(Account).where(Account.id == account_id).values(language="en"))


def test_issue_13_an_english_account_logging_in_on_italian_pages_gets_english_pages(
    client: FlaskClient,
) -> None:
    english_account()
    client.set_cookie("lang", "it")

    response = login(client, next_path="/oidc/authorize?client_id=portal&scope=openid")

    assert response.status_code == 303
    assert response.headers["Location"] == (
        "/lingua/en?next=%2Foidc%2Fauthorize%3Fclient_id%3Dportal%26scope%3Dopenid"
    )


def test_issue_13_the_same_language_goes_straight_on(client: FlaskClient) -> None:
    make_account()  # Italian
    client.set_cookie("lang", "it")

    response = login(client, next_path="/oidc/authorize?client_id=portal")

    assert (response.status_code, response.headers["Location"]) == (303, "/oidc/authorize?client_id=portal")
