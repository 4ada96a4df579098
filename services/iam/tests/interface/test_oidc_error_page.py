"""The page shown when a client's authorization request cannot go back to it (issue 13 item 7): readable,
in the user's language, with the helpdesk contact (D-ACC-9), and never the library's English description."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from oidc_helpers import make_app


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    yield from make_app(database_url)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.mark.parametrize(
    "query",
    [
        "client_id=no-such-client",
        "client_id=no-such-client&response_type=code&redirect_uri=https://x.example/cb",
    ],
)
def test_issue_13_an_unknown_client_gets_a_readable_page_in_italian(client: FlaskClient, query: str) -> None:
    response = client.get(f"/oidc/authorize?{query}", headers={"Accept-Language": "it"})

    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Richiesta di accesso non valida" in page
    assert "non è registrato" in page or "non è completa" in page
    assert "080" in page  # the helpdesk
    for developer_english in ("response type", "The ", "is not", "invalid_client -", "None"):
        assert developer_english not in page.split("<main", 1)[1].split("</main>", 1)[0], developer_english


def test_issue_13_the_same_page_in_english(client: FlaskClient) -> None:
    response = client.get("/oidc/authorize?client_id=no-such-client", headers={"Accept-Language": "en"})

    page = response.get_data(as_text=True)
    assert response.status_code == 400 and '<html lang="en">' in page
    assert "Invalid login request" in page and "Richiesta" not in page
