"""The login form's page, rendered once per language and template context with holes, then filled per request
(issue 18, P1-login: rendering the layout for every GET /oidc/authorize was the largest part of IAM's CPU
per login beyond argon2 and the database).

What differs between two requests' login forms of one language is known: the form's `next`, its CSRF token
and the language links (which carry the current path). The page is rendered once with a mark in each of
these places (the CSRF token through Flask-WTF's per-request cache in `g`, the others as template values);
the marks split it into constant text and holes, and a request's page is the text with its own values in
the holes, escaped as the template escapes them (markupsafe.escape, Jinja's autoescape). Everything else
the template sees, the context processors' values (locale, catalog, helpdesk, captcha adapter, the
header's user, ...), is the cache's key: a context that differs in anything renders afresh, as does one
that cannot be a key (an unhashable value) and any request with flashed messages to show. Nothing a
request brings is ever stored: the marks are random per process and the holes are filled per call.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping
from typing import Any

from flask import current_app, g, get_flashed_messages, render_template
from markupsafe import escape

TEMPLATE = "signin/login.html"
CACHE = "iam.signin.form_pages"
MAX_PAGES = 16  # (language, context) pairs: two languages in practice; beyond, pages render afresh

# Context values that change per request and are holes (language_url) or that templates reach only
# through the values above (request, session, g: the login form's templates use none of them directly).
_PER_REQUEST = frozenset({"language_url", "request", "session", "g"})


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


def login_form_page(*, next_path: str, min_length: int) -> str:
    """The login form (empty, no error) continuing to `next_path`: the same text render_template gives."""
    context: dict[str, Any] = {}
    current_app.update_template_context(context)
    explicit = {"next": next_path, "username": "", "errors": {}, "min_length": min_length}
    key = _key(context, min_length)
    # Flashed messages are shown by the layout (and taken from the session): such a page renders afresh.
    if key is None or get_flashed_messages():
        return render_template(TEMPLATE, **explicit)
    pages: dict[Any, _Holed | None] = current_app.extensions.setdefault(CACHE, {})
    holed = pages.get(key)
    if holed is None:
        if key in pages or len(pages) >= MAX_PAGES:
            return render_template(TEMPLATE, **explicit)
        holed = pages[key] = _render_holed(context, min_length)
        if holed is None:
            return render_template(TEMPLATE, **explicit)
    language_url: Callable[[str], str] = context["language_url"]
    values = {
        "next": str(escape(next_path)),
        "csrf": str(escape(current_app.jinja_env.globals["csrf_token"]())),  # type: ignore[operator]
    }
    for hole in holed.holes:
        if hole.startswith("lang:") and hole not in values:
            values[hole] = str(escape(language_url(hole[5:])))
    return holed.fill(values)


def _key(context: Mapping[str, Any], min_length: int) -> Any:
    items = tuple(sorted((name, value) for name, value in context.items() if name not in _PER_REQUEST))
    try:
        hash(items)
    except TypeError:
        return None
    return (items, min_length)


_MARK = f"polis-hole-{secrets.token_hex(12)}-"
_MARKS = re.compile(re.escape(_MARK) + r"([a-z]+(?::[a-z]{1,8})?)-end")


def _mark(hole: str) -> str:
    return f"{_MARK}{hole}-end"


def _render_holed(context: Mapping[str, Any], min_length: int) -> _Holed | None:
    """The page with marks where the holes are, split there; None if a mark is missing or was altered."""
    field = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    missing = object()
    had = g.pop(field, missing)  # this request's token, if it has one already: put back below
    setattr(g, field, _mark("csrf"))  # generate_csrf answers g's token for the rest of the request
    try:
        marked = render_template(
            TEMPLATE,
            **{name: value for name, value in context.items() if name not in _PER_REQUEST},
            language_url=lambda code: _mark(f"lang:{code}"),
            next=_mark("next"),
            username="",
            errors={},
            min_length=min_length,
        )
    finally:
        g.pop(field, None)
        if had is not missing:
            setattr(g, field, had)
    pieces = _MARKS.split(marked)
    parts, holes = pieces[0::2], pieces[1::2]
    if _MARK in "".join(parts) or "next" not in holes or "csrf" not in holes:
        return None
    return _Holed(parts, holes)
