"""polis.ui: the shared layout, its variables and translations, flashes, errors, catalogs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from flask import Flask, flash, render_template_string
from flask_babel import Babel
from flask_wtf.csrf import CSRFProtect
from polis.ui import TRANSLATIONS, compile_catalogs, register_ui, render_error_page
from polis.ui.i18n import select_locale

PAGE = """{% extends "polis/layout.html" %}
{% block title %}Titolo{% endblock %}
{% block content %}<p id="content">contenuto</p>{% endblock %}"""


def make_app(**config: object) -> Flask:
    app = Flask(__name__)
    app.config.update(
        POLIS_ENV="test",
        SECRET_KEY="test-secret",
        LANGUAGES=("it", "en"),
        BABEL_DEFAULT_LOCALE="it",
        POLIS_HELPDESK_PHONE="06 1234 567",
        POLIS_HELPDESK_HOURS={"it": "sempre", "en": "always"},
        **config,
    )
    Babel(app, locale_selector=select_locale)
    CSRFProtect(app)
    register_ui(app, asset_version="v7", home_url="/casa", login_url="/entra", language_url="/lang/{code}")
    return app


def render(app: Flask, source: str = PAGE, *, path: str = "/pagina", headers: dict | None = None) -> str:
    with app.test_request_context(path, headers=headers or {}):
        return render_template_string(source)


def test_the_layout_has_the_blocks_the_links_and_the_helpdesk_contact() -> None:
    page = render(make_app())

    assert '<html lang="it">' in page
    assert "<title>Titolo - Ministero dell'Istruzione e del Merito</title>" in page
    assert '<p id="content">contenuto</p>' in page
    assert 'href="/static/vendor/bootstrap-italia/css/bootstrap-italia.min.css?v=v7"' in page
    assert 'src="/static/vendor/bootstrap-italia/js/bootstrap-italia.bundle.min.js?v=v7"' in page
    assert 'href="/lang/en?next=%2Fpagina"' in page and 'href="/entra">Accedi</a>' in page
    assert 'href="/casa"' in page
    # D-ACC-9: the configured helpdesk contact, in the footer.
    assert 'href="tel:061234567">06 1234 567</a>' in page and "sempre" in page


def test_the_layout_is_translated_by_the_shared_catalog() -> None:
    page = render(make_app(), headers={"Cookie": "lang=en"})

    assert '<html lang="en">' in page and 'href="/entra">Log in</a>' in page
    assert "Skip to main content" in page and "Accessibility statement" in page and "always" in page


def test_register_ui_needs_babel_first() -> None:
    with pytest.raises(RuntimeError, match="Flask-Babel"):
        register_ui(Flask(__name__))


def test_flashed_messages_appear_as_callouts_at_the_top_of_main() -> None:
    app = make_app()
    with app.test_request_context("/"):
        flash("Registrazione completata", "success")
        flash("Controlla i dati", "error")
        page = render_template_string(PAGE)

    assert '<div class="callout success" role="status">' in page
    assert '<div class="callout danger" role="alert">' in page
    assert (
        page.index("Registrazione completata")
        < page.index("Controlla i dati")
        < page.index('<p id="content">')
    )


def test_the_error_page_shows_the_helpdesk_and_a_csrf_hint() -> None:
    app = make_app()
    with app.test_request_context("/", headers={"Cookie": "lang=en"}):
        not_found = render_error_page(404)
        csrf = render_error_page(400, csrf=True)
        other = render_error_page(418)

    assert "Page not found" in not_found and "06 1234 567" in not_found
    assert "reload the page" in csrf
    assert "Something went wrong" in other


def test_templates_carry_no_inline_script_or_style() -> None:
    page = render(make_app())

    assert "<style" not in page and "style=" not in page and "<script>" not in page


def test_compile_catalogs_writes_missing_or_stale_mo_files_only(tmp_path: Path) -> None:
    po = tmp_path / "en" / "LC_MESSAGES" / "messages.po"
    po.parent.mkdir(parents=True)
    po.write_text(
        'msgid ""\nmsgstr ""\n"Language: en\\n"\n\nmsgid "Ciao"\nmsgstr "Hello"\n', encoding="utf-8"
    )

    assert compile_catalogs(tmp_path) == [po.with_suffix(".mo")]
    assert compile_catalogs(tmp_path) == []
    os.utime(po, (po.stat().st_mtime + 10, po.stat().st_mtime + 10))
    assert compile_catalogs(tmp_path) == [po.with_suffix(".mo")]
    assert not list(po.parent.glob(".messages-*"))


def test_every_shared_string_is_translated_in_english_and_present_in_italian() -> None:
    # Keeps the catalog in step with the templates: run pybabel extract/update when this fails.
    ui = Path(TRANSLATIONS).parent
    used = {
        message[2] if isinstance(message[2], str) else message[2][0]
        for message in extract_from_dir(
            str(ui), method_map=[("templates/**.html", "jinja2"), ("**.py", "python")]
        )
    }
    for language in ("it", "en"):
        with (TRANSLATIONS / language / "LC_MESSAGES" / "messages.po").open("rb") as source:
            catalog = read_po(source)
        translated = {message.id for message in catalog if message.id and message.string}
        assert used - translated == set(), language
