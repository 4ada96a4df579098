"""polis.ui's templates' gettext (issue 18): bound to the render's catalog, the same text as Flask-Babel's."""

from __future__ import annotations

from flask import Flask, render_template_string
from flask_babel import Babel, force_locale
from polis.ui import register_ui
from polis.ui.i18n import select_locale

SOURCE = (
    '{{ _("Accedi") }}|{{ _("100%% fatto") }}|{{ _("Ciao %(name)s", name=who) }}|'
    '{{ ngettext("%(num)s file", "%(num)s file diversi", 3) }}|{% trans %}Privacy{% endtrans %}'
)


def make_app() -> Flask:
    app = Flask(__name__)
    app.config.update(POLIS_ENV="test", SECRET_KEY="test", LANGUAGES=("it", "en"), BABEL_DEFAULT_LOCALE="it")
    Babel(app, locale_selector=select_locale)
    register_ui(app)
    return app


def render(app: Flask, *, bound: bool, cookie: str = "lang=en", locale: str | None = None) -> str:
    with app.test_request_context("/", headers={"Cookie": cookie}):
        if not bound:  # what Flask-Babel's own callables (the environment's globals) give
            processors = app.template_context_processors[None]
            layout = processors[-1]
            keep = processors[:]
            processors[-1] = lambda: {
                key: value for key, value in layout().items() if not key.endswith("gettext")
            }
            try:
                return render_template_string(SOURCE, who="<b>Ada</b>")
            finally:
                processors[:] = keep
        if locale is not None:
            with force_locale(locale):
                return render_template_string(SOURCE, who="<b>Ada</b>")
        return render_template_string(SOURCE, who="<b>Ada</b>")


def test_the_bound_gettext_gives_flask_babels_text_escaping_and_percent_signs() -> None:
    app = make_app()
    for cookie in ("lang=en", "lang=it"):
        assert render(app, bound=True, cookie=cookie) == render(app, bound=False, cookie=cookie)
        # twice: the second answer comes from the per-catalog memo
        assert render(app, bound=True, cookie=cookie) == render(app, bound=False, cookie=cookie)
    page = render(app, bound=True)
    assert page.startswith("Log in|100% fatto|Ciao &lt;b&gt;Ada&lt;/b&gt;|3 ")


def test_the_bound_gettext_follows_a_forced_locale() -> None:
    app = make_app()
    assert render(app, bound=True, cookie="lang=it", locale="en").startswith("Log in|")
    assert render(app, bound=True, cookie="lang=en", locale="it").startswith("Accedi|")
