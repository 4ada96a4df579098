"""The personal home page, rendered once per language and template context with holes, then filled per request
(issue 18, P1-login: rendering the layout on every GET /area-personale was the largest part of the gateway's
CPU on that request; IAM's login form does the same, services/iam/iam/signin/form_page.py).

What differs between two users' personal homes of one language is known: the user's name in the welcome,
the name and the logout form's token in the header's account menu, and the language links (which carry the
current path). The page is rendered once with a mark in each of these places; the marks split it into
constant text and holes, and a request's page is the text with its own values in the holes, escaped as the
template escapes them (markupsafe.escape, Jinja's autoescape; the welcome's name through the translated
string's Markup `%`, which escapes it the same way). Everything else the template sees, the context
processors' values (locale, catalog, helpdesk, ...) and the script root its `url_for` links start with,
is the cache's key: a context that differs in anything renders afresh, as does one that cannot be a key
(an unhashable value), a request with flashed messages to show, and a user whose names are not plain text
or who has none (the template then shows the username: rare, rendered afresh). Nothing a request brings
is ever stored in the page: the marks are random per process and the holes are filled per call.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping
from typing import Any

from flask import current_app, get_flashed_messages, render_template, request
from markupsafe import escape

TEMPLATE = "auth/personal_home.html"
CACHE = "gateway.home_pages"
MAX_PAGES = 16  # (language, context) pairs: two languages in practice; beyond, pages render afresh

# Context values that are holes (language_url, polis_user: the header's user) or that change per request
# and that the templates reach only through them (request, session, g: the page's templates use none).
_PER_REQUEST = frozenset({"language_url", "polis_user", "request", "session", "g"})
# The user's fields the template reads (the welcome line).
_NAME_FIELDS = ("given_name", "family_name", "username")


class _Holed:
    """A rendered page split at its holes: parts[0], hole, parts[1], hole, ... parts[-1]."""

    __slots__ = ("holes", "parts")

    def __init__(self, parts: list[str], holes: list[str]) -> None:
        self.parts = parts
        self.holes = holes

    def fill(self, values: Mapping[str, str]) -> str:
        out = [self.parts[0]]
        for hole, part in zip(self.holes, self.parts[1:], strict=True):
            out.append(values[hole])
            out.append(part)
        return "".join(out)


def personal_home_page(user: Any) -> str:
    """The personal home of `user` (the session's user): the same text render_template gives."""
    context: dict[str, Any] = {}
    current_app.update_template_context(context)
    welcome = welcome_name(user)
    menu = context.get("polis_user")
    key = _key(context)
    # Flashed messages are shown by the layout (and taken from the session): such a page renders afresh.
    if key is None or welcome is None or not _plain_menu(menu) or get_flashed_messages():
        return render_template(TEMPLATE, user=user)
    pages: dict[Any, _Holed | None] = current_app.extensions.setdefault(CACHE, {})
    holed = pages.get(key)
    if holed is None:
        if key in pages or len(pages) >= MAX_PAGES:
            return render_template(TEMPLATE, user=user)
        holed = pages[key] = _render_holed(context)
        if holed is None:
            return render_template(TEMPLATE, user=user)
    assert isinstance(menu, dict)
    language_url: Callable[[str], str] = context["language_url"]
    values = {
        "welcome": str(escape(welcome)),
        "menu": str(escape(menu["name"])),
        "token": str(escape(menu["logout_token"])),
    }
    for hole in holed.holes:
        if hole.startswith("lang:") and hole not in values:
            values[hole] = str(escape(language_url(hole[5:])))
    return holed.fill(values)


def welcome_name(user: Any) -> str | None:
    """The name the welcome line shows, as the template computes it (``(given_name or "") ~ " " ~
    (family_name or "")`` trimmed), for a user whose name fields are text or absent; None when the template
    would fall back to the username or the fields are anything else (then the page renders afresh)."""
    if not isinstance(user, dict):
        return None
    fields = [user.get(name) for name in _NAME_FIELDS]
    if any(value is not None and type(value) is not str for value in fields):
        return None
    given, family, _username = fields
    name = f"{given or ''} {family or ''}".strip()
    return name or None


def _plain_menu(menu: Any) -> bool:
    """The header's user as gateway/pages/account.py gives it to a signed-in page: a name and a token."""
    return (
        isinstance(menu, dict)
        and menu.keys() == {"name", "logout_token"}
        and all(type(value) is str and value for value in menu.values())
    )


def _key(context: Mapping[str, Any]) -> Any:
    items = tuple(sorted((name, value) for name, value in context.items() if name not in _PER_REQUEST))
    try:
        hash(items)
    except TypeError:
        return None
    return (items, request.script_root)


_MARK = f"polis-hole-{secrets.token_hex(12)}-"
_MARKS = re.compile(re.escape(_MARK) + r"([a-z]+(?::[a-z]{1,8})?)-end")


def _mark(hole: str) -> str:
    return f"{_MARK}{hole}-end"


def _render_holed(context: Mapping[str, Any]) -> _Holed | None:
    """The page with marks where the holes are, split there; None if a mark is missing or was altered."""
    marked = render_template(
        TEMPLATE,
        **{name: value for name, value in context.items() if name not in _PER_REQUEST},
        language_url=lambda code: _mark(f"lang:{code}"),
        polis_user={"name": _mark("menu"), "logout_token": _mark("token")},
        user={"given_name": _mark("welcome"), "family_name": None, "username": None},
    )
    pieces = _MARKS.split(marked)
    parts, holes = pieces[0::2], pieces[1::2]
    if _MARK in "".join(parts) or not {"welcome", "menu", "token"} <= set(holes):
        return None
    return _Holed(parts, holes)
