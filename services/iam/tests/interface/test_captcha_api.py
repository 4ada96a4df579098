"""The ALTCHA captcha through HTTP (issue 3 item 3): the challenge endpoint, a solved challenge starts a
registration once, and the widget on the page loads only same-origin files (no inline script)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import altcha
import pytest
from flask import Flask
from flask.testing import FlaskClient
from registration_helpers import MARIO, make_app


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    yield from make_app(database_url, CAPTCHA="altcha", CAPTCHA_ALTCHA_MAX_NUMBER=2000)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def solved(client: FlaskClient) -> str:
    response = client.get("/api/iam/v1/captcha/challenge")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    challenge = response.get_json()
    solution = altcha.solve_challenge_v1(
        challenge["challenge"], challenge["salt"], challenge["algorithm"], challenge["maxNumber"]
    )
    assert solution is not None
    payload = {key: challenge[key] for key in ("algorithm", "challenge", "salt", "signature")}
    return base64.b64encode(json.dumps({**payload, "number": solution.number}).encode()).decode()


def test_d_acc_3_a_solved_altcha_challenge_starts_a_registration_and_cannot_start_another(
    client: FlaskClient,
) -> None:
    answer = solved(client)

    first = client.post(
        "/api/iam/v1/registrations", json={"codice_fiscale": MARIO.codice_fiscale, "captcha": answer}
    )
    replay = client.post(
        "/api/iam/v1/registrations", json={"codice_fiscale": MARIO.codice_fiscale, "captcha": answer}
    )

    assert first.status_code == 201
    assert replay.status_code == 400
    assert list(replay.get_json()["error"]["fields"]) == ["captcha"]


def test_the_altcha_widget_is_served_by_the_gateway_without_inline_script(client: FlaskClient) -> None:
    html = client.get("/iam/registrazione/step1").get_data(as_text=True)

    assert '<altcha-widget name="captcha" challengeurl="/api/iam/v1/captcha/challenge"' in html
    assert 'src="/static/vendor/altcha/altcha.js' in html
    assert 'href="/static/vendor/altcha/altcha.css' in html
    assert "<script>" not in html and "style=" not in html
