"""Every message kind renders in Italian and English with StrictUndefined: a template error fails here."""

from pathlib import Path

import notifier
import pytest
from notifier.delivery.rendering import LANGUAGES, Branding, Renderer
from notifier.messaging.catalogue import MESSAGES
from notifier.samples import PDF, SECRETS, message_data
from polis.events import Event, validate
from polis.events.sealing import DEV_KEY_ID, DEV_PRIVATE_KEY, Opener

TEMPLATES = Path(notifier.__file__).parent / "templates" / "email"
ACCOUNT = "0b8f7c1e-4a53-4d8e-9a51-3c2f0a9b7d11"
BRANDING = Branding(
    product="Istanze OnLine",
    base_url="https://istanze.example.gov.it",
    helpdesk_phone="080-0000000",
    helpdesk_hours={"it": "lun-ven 8-18", "en": "Mon-Fri 8-18"},
    helpdesk_email="help@example.gov.it",
)


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(Opener({DEV_KEY_ID: DEV_PRIVATE_KEY}), BRANDING)


def test_every_message_kind_has_a_valid_sample_and_all_six_template_files() -> None:
    for event_type, message in MESSAGES.items():
        validate(Event.new(event_type, message_data(event_type, ACCOUNT), producer="test"))
        for language in LANGUAGES:
            for suffix in ("subject.txt", "txt", "html"):
                assert (TEMPLATES / f"{message.kind}.{language}.{suffix}").is_file()


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("event_type", sorted(MESSAGES))
def test_every_kind_renders_in_both_languages_with_header_footer_links_and_attachments(
    renderer: Renderer, event_type: str, language: str
) -> None:
    message = MESSAGES[event_type]
    payload = {
        **message_data(event_type, ACCOUNT),
        "account": {"first_name": "Mario", "last_name": "Rossi", "username": "mario.rossi"},
    }

    # Straight from the template of this language (no Italian fallback hides a missing English file).
    rendered = renderer.render(
        kind=message.kind, language=language, payload=payload, attachments=message.attachments
    )

    greeting = "Gentile Mario Rossi" if language == "it" else "Dear Mario Rossi"
    assert rendered.subject.startswith("Istanze OnLine: ")
    for body in (rendered.text, rendered.html):
        assert greeting in body
        assert "080-0000000" in body and ("lun-ven 8-18" if language == "it" else "Mon-Fri 8-18") in body
        assert "help@example.gov.it" in body
        assert "https://istanze.example.gov.it" in body
        assert "sealed:v1:" not in body  # every sealed field was opened
        assert "None" not in body
    opened = [value for name, value in SECRETS.items() if name in payload]
    for secret in opened:
        assert secret in rendered.text and secret in rendered.html
    assert [a.content for a in rendered.attachments] == [PDF] * len(message.attachments)
    assert all(a.filename.endswith(".pdf") for a in rendered.attachments)


def test_the_templates_of_both_languages_differ(renderer: Renderer) -> None:
    payload = {
        **message_data("iam.password_changed", ACCOUNT),
        "account": {"first_name": "M", "last_name": "R", "username": None},
    }
    italian = renderer.render(kind="password_changed", language="it", payload=payload)
    english = renderer.render(kind="password_changed", language="en", payload=payload)
    assert "cambiata" in italian.subject and "changed" in english.subject
