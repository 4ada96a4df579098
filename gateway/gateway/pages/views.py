"""Home, privacy, and the language switch (login and the personal home are gateway/auth)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from werkzeug.exceptions import NotFound
from werkzeug.wrappers.response import Response as WerkzeugResponse

from gateway.i18n import LANG_COOKIE

bp = Blueprint("pages", __name__)

ONE_YEAR = 365 * 24 * 3600


@bp.get("/")
def home() -> str:
    return render_template("home.html")


@bp.get("/favicon.ico")
def favicon() -> WerkzeugResponse:
    # Browsers ask for it before reading the page's <link rel="icon">.
    return redirect(url_for("static", filename="img/favicon.svg"), code=301)


@bp.get("/privacy")
def privacy() -> str:
    return render_template("privacy.html")


@bp.get("/lingua/<code>")
def switch_language(code: str) -> WerkzeugResponse:
    if code not in current_app.config["LANGUAGES"]:
        raise NotFound()
    response = redirect(safe_local_path(request.args.get("next")), code=303)
    response.set_cookie(
        LANG_COOKIE,
        code,
        max_age=ONE_YEAR,
        secure=current_app.config["GATEWAY_SECURE_COOKIES"],
        httponly=True,
        samesite="Lax",
    )
    return response


def safe_local_path(target: str | None) -> str:
    """target if it is a path on this site, else "/": the switch must not become an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    # Browsers read a backslash as a slash ("/\\evil.example") and ignore tabs and newlines in URLs.
    if "\\" in target or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target
