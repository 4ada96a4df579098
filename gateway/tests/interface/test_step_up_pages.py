"""Credential forms and calls from a busy address (issue 13 item 4): the proof-of-work step-up before any
block, the blocked page with the real wait and the way back to the form, the JSON shape for API callers."""

from __future__ import annotations

import re

import pytest
from gateway.stepup import COOKIE, HEADER, solve

from gateway import create_app


@pytest.fixture
def busy(settings, upstream):
    """A gateway whose bands are small: step-up after 2 credential posts a minute, block after 4."""
    app = create_app(
        {
            "GATEWAY_SERVICES": {"iam": upstream.url},
            "RATELIMIT_AUTHENTICATION": "2 per minute",
            "RATELIMIT_AUTHENTICATION_BLOCK": "4 per minute; 100 per hour",
            "RATELIMIT_STEP_UP_MAX_NUMBER": 2000,
            **settings,
        }
    )
    return app.test_client()


def proof_for(client, path: str = "/iam/accedi") -> str:
    answer = client.get("/sicurezza/verifica", query_string={"path": path})
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    body = answer.get_json()
    assert body["required"] is True
    return solve(body["challenge"])


@pytest.mark.parametrize("path", ["/iam/accedi", "/iam/registrazione/step1", "/iam/password-dimenticata"])
def test_beyond_the_soft_threshold_the_form_goes_on_with_a_solved_challenge(busy, path):
    assert busy.get("/sicurezza/verifica", query_string={"path": path}).get_json() == {"required": False}
    assert [busy.post(path, data={"a": "b"}).status_code for _ in range(2)] == [200, 200]

    refused = busy.post(path, data={"a": "b"}, headers={"Accept": "text/html"})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 429
    assert "Serve una verifica automatica" in page
    assert re.search(r'<a [^>]*href="[^"]+"[^>]*id="step-up-back"', page)

    proof = proof_for(busy, path)
    busy.set_cookie(COOKIE, proof)
    answer = busy.post(path, data={"a": "b"})

    assert answer.status_code == 200
    assert answer.get_json()["path"] == path  # forwarded to IAM ...
    assert COOKIE not in answer.get_json()["headers"].get("Cookie", "")  # ... without the proof
    assert f"{COOKIE}=;" in answer.headers["Set-Cookie"]  # spent: the browser drops it
    # The same proof again: refused (single use).
    busy.set_cookie(COOKIE, proof)
    assert busy.post(path, data={"a": "b"}).status_code == 429


def test_forms_that_take_no_credentials_never_ask_for_the_step_up(busy):
    for _ in range(3):
        busy.post("/iam/accedi", data={"a": "b"})
    assert busy.get("/sicurezza/verifica", query_string={"path": "/iam/registrazione/step2"}).get_json() == {
        "required": False
    }
    assert busy.post("/iam/registrazione/step2", data={"a": "b"}).status_code == 200


def test_the_blocked_page_states_the_real_wait_and_links_back_to_the_form(busy):
    for _ in range(4):
        busy.set_cookie(COOKIE, proof_for(busy) if _ >= 2 else "")
        busy.post("/iam/accedi", data={"a": "b"})

    referrer = "http://localhost/iam/accedi?txn=abc123"
    blocked = busy.post("/iam/accedi", data={"a": "b"}, headers={"Referer": referrer, "Accept": "text/html"})
    page = blocked.get_data(as_text=True)

    assert blocked.status_code == 429
    assert 55 <= int(blocked.headers["Retry-After"]) <= 61
    assert "Troppi tentativi da questa rete" in page
    assert re.search(r"Puoi riprovare tra 1 minuto \(alle \d{1,2}:\d{2}\)", page), page
    assert "Attendi qualche minuto" not in page
    assert re.search(r'href="/iam/accedi\?txn=abc123"[^>]*id="step-up-back"', page)
    assert "080 9267603" in page  # the helpdesk, D-ACC-9

    english = busy.post(
        "/iam/accedi", data={"a": "b"}, headers={"Accept-Language": "en", "Accept": "text/html"}
    ).get_data(as_text=True)
    assert re.search(r"You can try again in 1 minute \(at \d{1,2}:\d{2}\s?[AP]?M?\)", english), english
    assert re.search(r'href="/accedi"[^>]*id="step-up-back"', english)  # no referrer: the login's start


def test_the_hour_window_wait_is_stated_in_minutes(settings, upstream):
    app = create_app(
        {
            "GATEWAY_SERVICES": {"iam": upstream.url},
            "RATELIMIT_AUTHENTICATION": "100 per hour",
            "RATELIMIT_AUTHENTICATION_BLOCK": "1 per hour",
            **settings,
        }
    )
    client = app.test_client()
    client.post("/iam/recupero-username", data={"a": "b"})
    page = client.post("/iam/recupero-username", data={"a": "b"}).get_data(as_text=True)
    assert re.search(r"Puoi riprovare tra (59|60) minuti", page), page
    assert re.search(r'href="/iam/recupero-username"[^>]*id="step-up-back"', page)


def test_json_callers_get_the_error_shape_with_retry_after(busy):
    call = "/api/iam/v1/recovery/password"
    assert [busy.post(call, json={}).status_code for _ in range(2)] == [200, 200]

    step_up = busy.post(call, json={})
    assert step_up.status_code == 429
    assert step_up.get_json()["error"]["code"] == "proof_of_work_required"

    proof = proof_for(busy, call)
    assert busy.post(call, json={}, headers={HEADER: proof}).status_code == 200

    # The credential attempts of pages and API calls are one count per address: this is the 5th.
    blocked = busy.post("/iam/accedi", data={"a": "b"}, headers={"Accept": "application/json"})
    assert blocked.status_code == 429
    assert blocked.get_json()["error"]["code"] == "too_many_requests"
    assert int(blocked.headers["Retry-After"]) >= 1
    api_blocked = busy.post(call, json={})
    assert api_blocked.get_json()["error"]["code"] == "too_many_requests"
    assert 1 <= int(api_blocked.headers["Retry-After"]) <= 61
