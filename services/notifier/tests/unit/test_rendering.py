"""Email rendering: both languages, sealed fields opened in memory only, Italian as the fallback."""

import uuid
from typing import Any

import pytest
from notifier.delivery.rendering import Renderer, RenderError
from notifier.samples import SECRETS, message_data
from polis.events.sealing import DEV_KEY_ID, DEV_PRIVATE_KEY, Opener

KIND = "registration_confirmation"
LINK = SECRETS["confirmation_url"]


def payload() -> dict[str, Any]:
    """What a delivery of registration's link holds: the event's data (the link sealed) and the names."""
    data = message_data("iam.registration_confirmation_requested", str(uuid.uuid4()))
    return {**data, "account": {"first_name": "Mario", "last_name": "Rossi", "username": None}}


@pytest.fixture
def renderer() -> Renderer:
    return Renderer(Opener({DEV_KEY_ID: DEV_PRIVATE_KEY}))


@pytest.mark.parametrize(
    ("language", "subject", "greeting"),
    [
        ("it", "conferma la registrazione", "Gentile Mario Rossi"),
        ("en", "confirm your registration", "Dear Mario Rossi"),
    ],
)
def test_the_link_email_is_rendered_in_the_chosen_language(
    renderer: Renderer, language: str, subject: str, greeting: str
) -> None:
    email = renderer.render(kind=KIND, language=language, payload=payload())

    assert subject in email.subject
    assert greeting in email.text and greeting in email.html
    assert LINK in email.text
    assert f'href="{LINK}"' in email.html


def test_a_language_without_templates_falls_back_to_italian(renderer: Renderer) -> None:
    email = renderer.render(kind=KIND, language="de", payload=payload())

    assert "Gentile Mario Rossi" in email.text


def test_a_sealed_field_that_does_not_open_cannot_be_rendered() -> None:
    renderer = Renderer(Opener({"another-key": DEV_PRIVATE_KEY}))

    with pytest.raises(RenderError) as error:
        renderer.render(kind=KIND, language="it", payload=payload())
    assert LINK not in str(error.value)


def test_an_unknown_kind_cannot_be_rendered(renderer: Renderer) -> None:
    with pytest.raises(RenderError):
        renderer.render(kind="no_such_email", language="it", payload={})
