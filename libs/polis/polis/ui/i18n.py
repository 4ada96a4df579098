"""Locale choice shared by every Polis app: the `lang` cookie of the gateway's language switch, then
Accept-Language, then the default (Italian)."""

from __future__ import annotations

from flask import current_app, request

LANG_COOKIE = "lang"
DEFAULT_LANGUAGES = ("it", "en")


def select_locale() -> str:
    """Flask-Babel locale selector; reads LANGUAGES and BABEL_DEFAULT_LOCALE from the app's config."""
    languages = current_app.config.get("LANGUAGES", DEFAULT_LANGUAGES)
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen is not None and chosen in languages:
        return chosen
    best = request.accept_languages.best_match(languages)
    return best or current_app.config.get("BABEL_DEFAULT_LOCALE", "it")
