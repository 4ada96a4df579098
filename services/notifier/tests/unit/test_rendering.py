"""Email rendering: both languages, sealed fields opened in memory only, Italian as the fallback."""

from collections.abc import Callable

import pytest
from notifier.delivery.rendering import Renderer, RenderError
from polis.events import Event
from polis.events.sealing import DEV_KEY_ID, DEV_PRIVATE_KEY, Opener


@pytest.fixture
def renderer() -> Renderer:
    return Renderer(Opener({DEV_KEY_ID: DEV_PRIVATE_KEY}))


@pytest.mark.parametrize(
    ("language", "subject", "greeting"),
    [("it", "conferma il tuo indirizzo email", "Gentile utente"), ("en", "confirm your email", "Dear user")],
)
def test_the_confirmation_email_is_rendered_in_the_chosen_language(
    renderer: Renderer,
    confirmation_event: Callable[..., Event],
    link: str,
    language: str,
    subject: str,
    greeting: str,
) -> None:
    event = confirmation_event(language=language)

    email = renderer.render(kind="email_confirmation", language=language, payload=event.data)

    assert subject in email.subject
    assert greeting in email.text and greeting in email.html
    assert link in email.text
    assert f'href="{link}"' in email.html


def test_a_language_without_templates_falls_back_to_italian(
    renderer: Renderer, confirmation_event: Callable[..., Event]
) -> None:
    email = renderer.render(kind="email_confirmation", language="de", payload=confirmation_event().data)

    assert "Gentile utente" in email.text


def test_a_sealed_field_that_does_not_open_cannot_be_rendered(
    confirmation_event: Callable[..., Event], link: str
) -> None:
    renderer = Renderer(Opener({"another-key": DEV_PRIVATE_KEY}))

    with pytest.raises(RenderError) as error:
        renderer.render(kind="email_confirmation", language="it", payload=confirmation_event().data)
    assert link not in str(error.value)


def test_an_unknown_kind_cannot_be_rendered(renderer: Renderer) -> None:
    with pytest.raises(RenderError):
        renderer.render(kind="no_such_email", language="it", payload={})
