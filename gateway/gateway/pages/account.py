"""Who is signed in, for the header of every page: the gateway's own and the services' pages it forwards.

The gateway alone knows the portal session, so it renders the header's account part itself: on its own
pages through polis.ui's `current_user`, on a forwarded HTML page by filling the part the shared layout
marks (polis.ui.fill_account_menu). A service trusts nothing it was sent and needs no key for it.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, request, session
from flask_babel import force_locale
from polis.ui import ACCOUNT_START, fill_account_menu, page_language, render_account_menu

from gateway.sessions import NO_SESSION_PREFIXES, logout_token


def display_user(user: Any, token: str | None = None) -> dict[str, str] | None:
    """``{"name": "Nome Cognome"}`` (the username when the names are missing) for a session's user, with
    the logout form's CSRF token (``logout_token``) when there is one."""
    if not isinstance(user, dict):
        return None
    name = " ".join(str(user.get(key) or "").strip() for key in ("given_name", "family_name")).strip()
    name = name or str(user.get("username") or "")
    if not name:
        return None
    return {"name": name, "logout_token": token} if token else {"name": name}


def signed_in_user() -> dict[str, str] | None:
    """The header's user on this request: from the page session, or read from the store where Flask
    opens no session (the forwarded /iam/ pages)."""
    if request.path.startswith(NO_SESSION_PREFIXES):
        from gateway.auth.forwarding import portal_bearer

        data = portal_bearer(current_app).cookies.load(request.environ)
        if data is None:
            return None
        return display_user(data.get("user"), logout_token(data))
    user = session.get("user")
    return display_user(user, logout_token(session) if user else None)


def with_account_menu(page: bytes) -> tuple[bytes, bool]:
    """A forwarded HTML page with the signed-in user's menu in its header (in the page's language), and
    whether it now carries that user's name (the answer must then not be cached). A page without the
    layout's account part (a redirect's body, a fragment) names nobody: its session is not even read (three
    of a login's forwarded answers are redirects, issue 18)."""
    if ACCOUNT_START not in page:
        return page, False
    user = signed_in_user()
    if user is None:
        return page, False
    with force_locale(page_language(page)):
        menu = render_account_menu(user)
    return fill_account_menu(page, menu.encode("utf-8")), True
