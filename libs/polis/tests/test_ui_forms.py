"""polis.ui form macros: labels, help and errors tied to their fields, the error summary, the steps."""

from __future__ import annotations

import re

from flask import Flask, render_template_string
from flask_babel import Babel
from flask_wtf.csrf import CSRFProtect
from polis.ui import register_ui
from polis.ui.i18n import select_locale


def make_app() -> Flask:
    app = Flask(__name__)
    app.config.update(POLIS_ENV="test", SECRET_KEY="test-secret", LANGUAGES=("it", "en"))
    Babel(app, locale_selector=select_locale)
    CSRFProtect(app)
    register_ui(app, asset_version="v1")
    return app


def render(source: str, *, lang: str = "it", **context: object) -> str:
    app = make_app()
    with app.test_request_context("/", headers={"Cookie": f"lang={lang}"}):
        # Imported without context on purpose: the macros must not depend on the caller's variables.
        return render_template_string('{% import "polis/forms.html" as forms %}' + source, **context)


def tag(html: str, element: str, ident: str) -> str:
    match = re.search(rf'<{element}[^>]*\bid="{ident}"[^>]*>', html, flags=re.S)
    assert match, f"no <{element} id={ident}>"
    return match.group(0)


def test_a_text_field_has_a_label_and_its_help_is_tied_to_it() -> None:
    html = render(
        '{{ forms.text_field("nome", "Nome", value="Mario", help="Come nel documento", required=True) }}'
    )

    field = tag(html, "input", "nome")
    assert '<label class="active" for="nome">Nome</label>' in html
    assert 'value="Mario"' in field and 'aria-required="true"' in field
    assert 'aria-describedby="nome-help"' in field and 'id="nome-help"' in html
    assert "aria-invalid" not in field and "is-invalid" not in field


def test_an_error_is_shown_next_to_its_field_and_announced() -> None:
    html = render(
        '{{ forms.email_field("email", "Email", value="x@", error=["Indirizzo non valido"],'
        ' help="Personale") }}'
    )

    field = tag(html, "input", "email")
    assert 'type="email"' in field and 'aria-invalid="true"' in field and "is-invalid" in field
    assert 'aria-describedby="email-help email-error"' in field
    error = html[html.index('id="email-error"') :]
    assert "Indirizzo non valido" in error and "Errore:" in error


def test_values_are_escaped_and_passwords_never_echoed() -> None:
    html = render(
        '{{ forms.text_field("n", "N", value=v) }}'
        '{{ forms.password_field("password", "Password", error="Troppo corta") }}',
        v='"><script>x</script>',
    )

    assert "<script>x" not in html and "&#34;&gt;&lt;script&gt;" in html
    field = tag(html, "input", "password")
    assert (
        "value=" not in field
        and 'autocomplete="current-password"' in field
        and 'aria-invalid="true"' in field
    )


def test_the_error_summary_links_each_message_to_its_field() -> None:
    html = render(
        "{{ forms.error_summary(errors, labels={'nome': 'Nome'}, ids={'sesso': 'sesso'}) }}",
        errors={"nome": ["Obbligatorio"], "sesso": "Scegli un valore", "_form": "Dati non coerenti"},
    )

    assert 'role="alert"' in html and "Correggi i dati indicati" in html
    assert '<a href="#nome">Nome: Obbligatorio</a>' in html
    assert '<a href="#sesso">Scegli un valore</a>' in html
    assert "<li>Dati non coerenti</li>" in html
    assert render("{{ forms.error_summary({}) }}").strip() == ""


def test_select_radio_checkbox_and_date_keep_their_values() -> None:
    html = render(
        """{{ forms.select_field("stato", "Stato", [("IT", "Italia"), ("FR", "Francia")], value="FR",
                                 placeholder=True) }}
        {{ forms.radio_field("sesso", "Sesso", [("F", "Femmina"), ("M", "Maschio")], value="M",
                             error="Scegli") }}
        {{ forms.checkbox_field("consenso", "Acconsento", checked=True) }}
        {{ forms.date_field("nascita", "Data di nascita", value="1980-01-31") }}"""
    )

    assert (
        '<option value="FR" selected>Francia</option>' in html
        and '<option value="">Seleziona...</option>' in html
    )
    assert '<option value="IT">Italia</option>' in html
    first, second = tag(html, "input", "sesso"), tag(html, "input", "sesso-2")
    assert "checked" not in first and "checked" in second and 'aria-invalid="true"' in first
    assert "<legend>Sesso</legend>" in html and 'aria-describedby="sesso-error"' in html
    assert "checked" in tag(html, "input", "consenso") and '<label for="consenso">Acconsento</label>' in html
    assert 'type="date"' in tag(html, "input", "nascita") and 'value="1980-01-31"' in html


def test_csrf_field_and_submit() -> None:
    html = render('{{ forms.csrf_field() }}{{ forms.submit("Avanti", name="azione", value="avanti") }}')

    assert re.search(r'<input type="hidden" name="csrf_token" value="[^"]+">', html)
    assert (
        '<button type="submit" class="btn btn-primary me-2 mb-2" name="azione" value="avanti">Avanti</button>'
        in html
    )


def test_progress_steps_mark_done_current_and_next_steps() -> None:
    steps = ["Codice fiscale", "Dati anagrafici", "Email", "Sicurezza", "Riepilogo"]

    html = render("{{ forms.progress_steps(steps, 2) }}", steps=steps)
    english = render("{{ forms.progress_steps(steps, 2) }}", steps=steps, lang="en")

    assert (
        html.count('class="confirmed"') == 1
        and '<li class="active" aria-current="step">Dati anagrafici' in html
    )
    assert "Passo 2 di 5: Dati anagrafici" in html and ">2/5<" in html and "#it-check" in html
    assert "Step 2 of 5: Dati anagrafici" in english
