"""The personal home from a page with holes (gateway/auth/home_page.py, issue 18): the same bytes as a fresh
render_template in both languages, for every kind of name, on the call that builds the page and on those that
fill it; no user's name or logout token in another user's page (D-ACC-4: the personal home is the user's own).
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import flash, render_template, session
from gateway.auth import home_page
from gateway.i18n import LANG_COOKIE
from iam_double import ISSUER, FakeIam
from session_support import log_in

from gateway import create_app

# Names that must come out exactly as the template escapes them: markup, quotes, format characters, non-ASCII,
# spaces to trim, a would-be hole mark (a random one and this process's own prefix).
NAMES = [
    ("Mario", "Rossi"),
    ('<b>Ada</b> & "Co"', "O'Neil <script>"),
    ("100%", "%(name)s %s %%"),
    ("Zoë", "Ñandú-Łukasz 李"),
    ("  Mario ", "  "),
    ("", "Rossi"),
    (None, "Rossi"),
    ("Mario", None),
    ("polis-hole-0123456789abcdef01234567-menu-end", "x"),
    (home_page._mark("token"), home_page._mark("lang:en")),
]
# Users the page is not taken from the holes for (the template shows the username, or a field is no text).
FRESH = [
    {"given_name": None, "family_name": None, "username": "mario.rossi"},
    {"given_name": " ", "family_name": "", "username": "<i>mr</i>"},
    {"given_name": 42, "family_name": "Rossi", "username": "mr"},
    {"given_name": ["Mario"], "family_name": "Rossi", "username": "mr"},
]


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch, iam: FakeIam) -> Any:
    monkeypatch.setenv("POLIS_ENV", "test")
    iam.reset()
    return create_app(
        {"GATEWAY_SERVICES": {"iam": iam.url}, "GATEWAY_OIDC_ISSUER": ISSUER, "RATELIMIT_ENABLED": False}
    )


def _user(given: Any, family: Any, username: Any = "mario.rossi") -> dict[str, Any]:
    return {"sub": "u-1", "username": username, "given_name": given, "family_name": family, "iam_sid": "s-1"}


def _signed_in_context(app: Any, user: dict[str, Any], *, lang: str, path: str) -> Any:
    """A request context whose session is a stored one with `user` (its logout token in the header)."""
    context = app.test_request_context(path, headers={"Cookie": f"{LANG_COOKIE}={lang}"})
    context.push()
    session["user"] = user
    session.secret = f"secret-of-{id(user)}"  # as a stored session has: the logout form's token comes from it
    return context


@pytest.mark.parametrize("lang", ["it", "en"])
@pytest.mark.parametrize(("given", "family"), NAMES)
def test_the_page_is_the_fresh_render_byte_for_byte(app: Any, lang: str, given: Any, family: Any) -> None:
    user = _user(given, family)
    for path in ("/area-personale", "/area-personale?x=<&\"'>%25%C3%A9", "/area-personale"):
        context = _signed_in_context(app, user, lang=lang, path=path)
        try:
            filled = home_page.personal_home_page(user)
            fresh = render_template(home_page.TEMPLATE, user=user)
        finally:
            context.pop()
        assert filled == fresh
        assert f'<html lang="{lang}">' in filled
    assert [type(page).__name__ for page in app.extensions[home_page.CACHE].values()] == ["_Holed"]


@pytest.mark.parametrize("user", FRESH)
def test_a_user_without_plain_names_gets_the_fresh_render(app: Any, user: dict[str, Any]) -> None:
    context = _signed_in_context(app, user, lang="it", path="/area-personale")
    try:
        assert home_page.personal_home_page(user) == render_template(home_page.TEMPLATE, user=user)
    finally:
        context.pop()
    assert home_page.CACHE not in app.extensions  # nothing was built for it


def test_flashed_messages_are_shown(app: Any) -> None:
    user = _user("Mario", "Rossi")
    context = _signed_in_context(app, user, lang="it", path="/area-personale")
    try:
        home_page.personal_home_page(user)  # the page with holes is built
    finally:
        context.pop()
    context = _signed_in_context(app, user, lang="it", path="/area-personale")
    try:
        flash("Un messaggio per <te>")  # as a request before this one left it in the session
        filled = home_page.personal_home_page(user)
        assert "Un messaggio per &lt;te&gt;" in filled
        assert filled == render_template(home_page.TEMPLATE, user=user)
    finally:
        context.pop()


def test_a_page_without_a_logout_token_gets_the_fresh_render(app: Any) -> None:
    user = _user("Mario", "Rossi")
    context = app.test_request_context("/area-personale")
    context.push()
    try:
        session["user"] = user  # never stored: no logout token for the header's form
        assert home_page.personal_home_page(user) == render_template(home_page.TEMPLATE, user=user)
    finally:
        context.pop()


def _log_in(app: Any, iam: FakeIam, given: str, family: str, *, sid: str) -> Any:
    client = app.test_client()
    claims = {"sub": f"sub-{sid}", "given_name": given, "family_name": family, "sid": sid}
    log_in(client, iam, claims={**claims, "preferred_username": f"user.{sid}"})
    return client


def _logout_token(page: str) -> str:
    marker = 'name="csrf_token" value="'
    start = page.index(marker) + len(marker)
    return page[start : page.index('"', start)]


def test_no_user_sees_another_users_name_or_token(
    app: Any, iam: FakeIam, monkeypatch: pytest.MonkeyPatch
) -> None:
    ada = _log_in(app, iam, "Ada", "Lovelace", sid="s-ada")
    bob = _log_in(app, iam, "Bob", "<Builder>", sid="s-bob")
    pages = {}
    for name, client in (("ada", ada), ("bob", bob), ("ada again", ada)):
        response = client.get("/area-personale")
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "no-store"
        pages[name] = response.get_data(as_text=True)
    ada_token, bob_token = _logout_token(pages["ada"]), _logout_token(pages["bob"])
    assert ada_token != bob_token
    assert "Ada Lovelace" in pages["ada"] and ada_token in pages["ada"]
    assert "Bob &lt;Builder&gt;" in pages["bob"] and bob_token in pages["bob"]
    assert "Ada" not in pages["bob"] and "Lovelace" not in pages["bob"] and ada_token not in pages["bob"]
    assert "Bob" not in pages["ada"] and "Builder" not in pages["ada"] and bob_token not in pages["ada"]
    assert pages["ada again"] == pages["ada"]
    assert home_page._MARK not in pages["ada"] + pages["bob"]
    # Through HTTP too, each page is the one rendered afresh (no page with holes).
    monkeypatch.setattr(home_page, "MAX_PAGES", 0)
    app.extensions.pop(home_page.CACHE)
    for name, client in (("ada", ada), ("bob", bob)):
        fresh = client.get("/area-personale")
        assert fresh.get_data(as_text=True) == pages[name]
    assert app.extensions[home_page.CACHE] == {}


def test_a_changed_setting_renders_a_new_page(app: Any) -> None:
    user = _user("Mario", "Rossi")
    pages = []
    for phone in ("080 1111111", "080 2222222"):
        app.config["POLIS_HELPDESK_PHONE"] = phone
        context = _signed_in_context(app, user, lang="it", path="/area-personale")
        try:
            pages.append(home_page.personal_home_page(user))
            assert pages[-1] == render_template(home_page.TEMPLATE, user=user)
        finally:
            context.pop()
    assert "080 1111111" in pages[0] and "080 2222222" in pages[1]
    assert len(app.extensions[home_page.CACHE]) == 2
