"""The shared look of the Polis web pages: one layout, form macros, messages and their translations.

Any Flask app that renders pages (the gateway, IAM, later the other services) calls `register_ui(app, ...)`
after initialising Flask-Babel; its templates then extend ``polis/layout.html`` and import
``polis/forms.html`` and ``polis/messages.html``. The static assets (Bootstrap Italia, fonts, the site's CSS)
are always served by the gateway at ``/static/...``: the pages of a service reach the browser through the
gateway, on the same origin, so they link to the same absolute URLs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Flask, current_app, render_template, render_template_string, request
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from polis.config import DEFAULT_HELPDESK_HOURS, DEFAULT_HELPDESK_PHONE, Env
from polis.ui.catalogs import compile_catalogs, prepare_catalogs

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
TRANSLATIONS = HERE / "translations"

DEFAULT_LANGUAGES = (("it", "ITA", "Italiano"), ("en", "ENG", "English"))

# Error pages with their own wording in polis/error.html; other statuses use the generic one.
ERROR_PAGES = (400, 403, 404, 405, 429, 500, 503)
LANGUAGE_URL = "polis_ui.language_url"


def ui_settings(env: Env) -> dict[str, Any]:
    """The settings the layout reads (Flask config keys), from the environment shared by every app.

    D-ACC-9: the helpdesk contact is configurable, never hard-coded in templates.
    """
    return {
        "POLIS_HELPDESK_PHONE": env.str("POLIS_HELPDESK_PHONE", DEFAULT_HELPDESK_PHONE),
        "POLIS_HELPDESK_HOURS": {
            "it": env.str("POLIS_HELPDESK_HOURS", DEFAULT_HELPDESK_HOURS["it"]),
            "en": env.str("POLIS_HELPDESK_HOURS_EN", DEFAULT_HELPDESK_HOURS["en"]),
        },
        "POLIS_ACCESSIBILITY_URL": env.str("POLIS_ACCESSIBILITY_URL", "https://form.agid.gov.it/"),
        "POLIS_PRIVACY_URL": env.str("POLIS_PRIVACY_URL", "/privacy"),
        # Appended to the gateway's asset URLs (?v=...) to bust browser caches: set it to the gateway's
        # asset version (shown in its pages' asset URLs) when the gateway's assets change.
        "POLIS_ASSET_VERSION": env.str("POLIS_ASSET_VERSION", "polis-ui-1"),
    }


def register_ui(
    app: Flask,
    *,
    asset_version: str | None = None,
    home_url: str = "/",
    login_url: str = "/accedi",
    language_url: str = "/lingua/{code}",
    static_url: str = "/static",
    languages: Sequence[tuple[str, str, str]] = DEFAULT_LANGUAGES,
    current_user: Callable[[], Mapping[str, Any] | None] | None = None,
    personal_home_url: str = "/area-personale",
    reserved_area_url: str = "/iam/area-riservata",
    logout_url: str = "/esci",
) -> None:
    """Make the shared templates, their translations and the layout's variables available to `app`.

    Flask-Babel must already be initialised on `app` (its locale selector decides `current_locale`).
    The settings come from `app.config` (see `ui_settings`); `asset_version` defaults to
    POLIS_ASSET_VERSION. `language_url` is the gateway's language switch, `{code}` replaced by the language;
    the current path is passed as `next`. `current_user` (an app that knows who is signed in: the
    gateway) returns ``{"name": ...}`` or None; other apps leave the header's account part to the gateway,
    which fills it on the pages it forwards (`fill_account_menu`).
    """
    if "babel" not in app.extensions:
        raise RuntimeError("register_ui needs Flask-Babel: call babel.init_app(app, ...) first")
    version = asset_version or app.config.get("POLIS_ASSET_VERSION") or "polis-ui-1"
    static_base = static_url.rstrip("/")

    # The shared catalog goes first: directories merged later win, so an app can override a shared string.
    directories = app.extensions["babel"].translation_directories
    if str(TRANSLATIONS) not in directories:
        directories.insert(0, str(TRANSLATIONS))
    # Development and tests pick up edited catalogs; installs and images compile them beforehand.
    prepare_catalogs(TRANSLATIONS, environment=app.config.get("POLIS_ENV"))

    # A blueprint without routes only adds its template folder to the app's template search path.
    app.register_blueprint(Blueprint("polis_ui", __name__, template_folder="templates"))

    def asset(filename: str) -> str:
        return f"{static_base}/{filename.lstrip('/')}?v={version}"

    # Globals, not context variables, so that imported macros see them with or without context.
    app.jinja_env.globals.update(
        static_url=asset,
        sprites=asset("vendor/bootstrap-italia/svg/sprites.svg"),
        asset_version=version,
    )

    app.extensions[LANGUAGE_URL] = language_url

    def switch_urls() -> Callable[[str], str]:
        """language_url(code) for one render: what language_switch_url gives, the current path encoded once
        for all the languages' links (a login form's path is the whole authorization request, issue 18)."""
        encoded: list[str] = []

        def switch_url(code: str) -> str:
            if not encoded:
                encoded.append(urlencode({"next": request.full_path.rstrip("?") if request else "/"}))
            return f"{language_url.format(code=code)}?{encoded[0]}"

        return switch_url

    @app.context_processor
    def _layout_variables() -> dict[str, Any]:
        from flask_babel import get_locale, get_translations

        locale = str(get_locale() or app.config.get("BABEL_DEFAULT_LOCALE", "it"))
        hours: Mapping[str, str] = app.config.get("POLIS_HELPDESK_HOURS") or DEFAULT_HELPDESK_HOURS
        return {
            "current_locale": locale,
            "languages": languages,
            "language_url": switch_urls(),
            "home_url": home_url,
            "login_url": login_url,
            "helpdesk_phone": app.config.get("POLIS_HELPDESK_PHONE") or DEFAULT_HELPDESK_PHONE,
            "helpdesk_hours": hours.get(locale) or hours.get("it", ""),
            "accessibility_url": app.config.get("POLIS_ACCESSIBILITY_URL", "https://form.agid.gov.it/"),
            "privacy_url": app.config.get("POLIS_PRIVACY_URL", "/privacy"),
            "polis_user": current_user() if current_user else None,
            "personal_home_url": personal_home_url,
            "reserved_area_url": reserved_area_url,
            "logout_url": logout_url,
            # The page's gettext callables, bound to this render's catalog (issue 18, below).
            **template_gettext(get_translations()),
        }


# --- the templates' gettext (issue 18) ---------------------------------------------------------------------
# Flask-Babel installs gettext callables that look the request's locale and catalog up again on every
# `_()` call (three context-local look-ups, the locale's identifier, the catalog cache): about two fifths of
# the CPU of rendering the layout, which has some thirty strings. The same callables, with Jinja's
# "newstyle" semantics (jinja2.ext._make_new_gettext: Markup when autoescaping, always `% variables`), bound
# to the catalog once per render as context variables, which shadow the environment's globals wherever the
# render's context is seen (`_` resolves "gettext" in the context). A string without variables is
# translated once per catalog: the answer, a str or an immutable Markup, is the same every time.
# Macros imported without context keep Flask-Babel's globals, which give the same translations.

_BOUND = "_polis_template_gettext"


def template_gettext(translations: Any) -> dict[str, Any]:
    """gettext, ngettext, pgettext and npgettext for templates, bound to `translations` (made once per
    catalog and kept on it)."""
    bound: dict[str, Any] | None = getattr(translations, _BOUND, None)
    if bound is None:
        bound = _bind(translations)
        with suppress(AttributeError):  # a catalog that takes no attributes: bound again next time
            setattr(translations, _BOUND, bound)
    return bound


def _formatted(translated: str, autoescape: bool, variables: dict[str, Any]) -> str:
    # As Jinja's i18n extension: the catalog's string is the template's own text (trusted markup), the
    # variables are escaped by Markup's `%`; always a format string, so "%%" is "%" with or without them.
    return (Markup(translated) if autoescape else translated) % variables  # noqa: S704 # type: ignore[no-any-return]


def _bind(translations: Any) -> dict[str, Any]:
    plain: dict[tuple[str, bool], str] = {}
    ugettext, ungettext = translations.ugettext, translations.ungettext
    upgettext, unpgettext = translations.upgettext, translations.unpgettext

    @pass_context
    def gettext(__context: Context, __string: str, **variables: Any) -> str:
        autoescape = __context.eval_ctx.autoescape
        if not variables:
            key = (__string, autoescape)
            done = plain.get(key)
            if done is None:
                done = plain[key] = _formatted(ugettext(__string), autoescape, {})
            return done
        return _formatted(ugettext(__string), autoescape, variables)

    @pass_context
    def ngettext(__context: Context, __singular: str, __plural: str, __num: int, **variables: Any) -> str:
        variables.setdefault("num", __num)
        rv = ungettext(__singular, __plural, __num)
        return _formatted(rv, __context.eval_ctx.autoescape, variables)

    @pass_context
    def pgettext(__context: Context, __string_ctx: str, __string: str, **variables: Any) -> str:
        variables.setdefault("context", __string_ctx)
        rv = upgettext(__string_ctx, __string)
        return _formatted(rv, __context.eval_ctx.autoescape, variables)

    @pass_context
    def npgettext(
        __context: Context, __string_ctx: str, __singular: str, __plural: str, __num: int, **variables: Any
    ) -> str:
        variables.setdefault("context", __string_ctx)
        variables.setdefault("num", __num)
        rv = unpgettext(__string_ctx, __singular, __plural, __num)
        return _formatted(rv, __context.eval_ctx.autoescape, variables)

    return {"gettext": gettext, "ngettext": ngettext, "pgettext": pgettext, "npgettext": npgettext}


def language_switch_url(code: str, next_path: str) -> str:
    """The language switch's URL (the gateway's ``/lingua/<code>``, which sets the `lang` cookie every app
    reads) that comes back to `next_path`. An app sends the browser there to make the pages follow a
    choice made elsewhere: the account's preferred language at login or when it is saved (issue 13 item 7).
    """
    template = current_app.extensions.get(LANGUAGE_URL, "/lingua/{code}")
    return f"{template.format(code=code)}?{urlencode({'next': next_path})}"


ACCOUNT_START = b"<!--polis:account-->"
ACCOUNT_END = b"<!--/polis:account-->"


def fill_account_menu(page: bytes, menu: bytes) -> bytes:
    """`page` with its header's account part (between the polis:account markers) replaced by `menu`.

    A page's own content cannot forge the markers: Jinja escapes ``<`` in every value it shows.
    """
    start = page.find(ACCOUNT_START)
    if start < 0:
        return page
    end = page.find(ACCOUNT_END, start)
    if end < 0:
        return page
    return page[: start + len(ACCOUNT_START)] + menu + page[end:]


def page_language(page: bytes, default: str = "it") -> str:
    """The language a page says it is in (``<html lang="...">``)."""
    at = page.find(b'<html lang="', 0, 200)
    if at < 0:
        return default
    code = page[at + 12 : page.find(b'"', at + 12)].decode("ascii", "replace")
    return code if code.isalpha() and len(code) <= 8 else default


def render_account_menu(user: Mapping[str, Any] | None) -> str:
    """The header's account part alone (for `fill_account_menu`), in the current locale."""
    return render_template_string(
        '{% from "polis/account.html" import account_menu with context %}{{ account_menu(menu_user) }}',
        menu_user=user,
    )


def render_error_page(status: int, *, csrf: bool = False) -> str:
    """The readable error page in the layout (with the helpdesk contact, D-ACC-9), never a stack trace."""
    return render_template(
        "polis/error.html", status=status, kind=status if status in ERROR_PAGES else 0, csrf=csrf
    )


__all__ = [
    "TEMPLATES",
    "TRANSLATIONS",
    "compile_catalogs",
    "fill_account_menu",
    "language_switch_url",
    "page_language",
    "prepare_catalogs",
    "register_ui",
    "render_account_menu",
    "render_error_page",
    "ui_settings",
]
