"""The login form's page filled from the per-language render with holes (iam.signin.form_page, issue 18,
P1-login) is the page render_template gives, byte for byte, and carries only its own request's values."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest
from flask import Flask, flash, render_template
from flask.testing import FlaskClient
from iam.signin import form_page

# Values with every character HTML escaping changes, a percent sign, non-ASCII and a would-be mark.
AWKWARD = [
    "/",
    "/iam/area-riservata",
    '/iam/x?a=1&b="2"&c=<3>',
    "/iam/y?q='single'&amp;already-escaped=&lt;b&gt;",
    "/iam/z?%25=%zz&è=ü€",
    f"/iam/w?{form_page._MARK}next-end",
]


def _both(app: Flask, *, lang: str, next_path: str, query: dict[str, str]) -> tuple[str, str, str]:
    """The cached page and a fresh render_template of it in the same request (so the same CSRF token and
    language links), and the request's CSRF token."""
    path = f"/oidc/authorize?{urlencode(query)}"
    with app.test_request_context(path, headers={"Cookie": f"lang={lang}"}):
        cached = form_page.login_form_page(next_path=next_path, min_length=12)
        fresh = render_template(form_page.TEMPLATE, next=next_path, username="", errors={}, min_length=12)
        token = app.jinja_env.globals["csrf_token"]()  # type: ignore[operator]
    return cached, fresh, token


@pytest.mark.parametrize("lang", ["it", "en"])
def test_the_cached_login_form_is_the_fresh_render_byte_for_byte(app: Flask, lang: str) -> None:
    for round_ in range(2):  # the first round builds the holed page, the second only fills it
        for index, next_path in enumerate(AWKWARD):
            query = {"state": f"st\"<{index}>&'{round_}", "client_id": "portal", "nonce": "n&ü"}
            cached, fresh, token = _both(app, lang=lang, next_path=next_path, query=query)
            assert cached == fresh
            assert f'<html lang="{lang}">' in cached
            assert f'name="csrf_token" value="{token}"' in cached
            assert cached.count(form_page._MARK) == next_path.count(form_page._MARK)
    pages = app.extensions[form_page.CACHE]
    assert [page for page in pages.values() if page is not None], "the holed page was never used"


def test_no_request_s_values_reach_another_s_page(app: Flask) -> None:
    first, _, first_token = _both(
        app, lang="it", next_path="/iam/first-next-value", query={"state": "first-state-value"}
    )
    second, fresh, second_token = _both(
        app, lang="it", next_path="/iam/second-next-value", query={"state": "second-state-value"}
    )
    assert second == fresh
    assert first_token != second_token
    for value in ("first-next-value", "first-state-value", first_token):
        assert value in first
        assert value not in second
    assert "second-next-value" in second and "second-state-value" in second and second_token in second


def test_a_change_in_the_template_context_renders_the_new_page(app: Flask) -> None:
    before, _, _ = _both(app, lang="it", next_path="/", query={})
    app.config["POLIS_HELPDESK_PHONE"] = "06 1234 5678"
    after, fresh, _ = _both(app, lang="it", next_path="/", query={})
    assert after == fresh
    assert "06 1234 5678" in after and "06 1234 5678" not in before


def test_flashed_messages_are_shown_on_the_page(app: Flask) -> None:
    _both(app, lang="it", next_path="/", query={})  # the holed page exists
    with app.test_request_context("/iam/accedi"):
        flash("un messaggio flash unico", "warning")
        page = form_page.login_form_page(next_path="/", min_length=12)
    assert "un messaggio flash unico" in page


def test_the_login_form_through_http_carries_the_session_s_csrf_token(client: FlaskClient) -> None:
    pages = [client.get("/iam/accedi?next=/iam/area-riservata").get_data(as_text=True) for _ in range(3)]
    other = client.application.test_client().get("/iam/accedi").get_data(as_text=True)
    tokens = [_token(page) for page in pages]
    assert all(tokens) and _token(other) and _token(other) not in tokens  # each session its own token
    assert all('name="next" value="/iam/area-riservata"' in page for page in pages)
    assert 'name="next" value="/"' in other


def _token(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    return match.group(1) if match else ""
