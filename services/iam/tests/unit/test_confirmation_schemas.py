"""The email confirmation schemas refuse what the API does not accept (D-ACC-3)."""

import pytest
from iam.confirmations.schemas import ConfirmationRequestSchema, ConfirmSchema
from polis.errors import ValidationFailed
from polis.web import load


def test_a_request_with_unknown_fields_is_refused_naming_them() -> None:
    with pytest.raises(ValidationFailed) as refused:
        load(ConfirmationRequestSchema(), {"email": "mario.rossi@example.it", "admin": True})
    assert refused.value.fields == {"admin": ["Unknown field."]}
    assert "admin" in refused.value.message


@pytest.mark.parametrize("email", ["", "mario.rossi", "mario@", "@example.it", "a b@example.it"])
def test_a_malformed_email_is_refused(email: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        load(ConfirmationRequestSchema(), {"email": email})
    assert "email" in refused.value.fields


def test_the_language_defaults_to_italian() -> None:
    assert load(ConfirmationRequestSchema(), {"email": "mario.rossi@example.it"})["language"] == "it"


def test_only_italian_and_english_are_offered() -> None:
    with pytest.raises(ValidationFailed) as refused:
        load(ConfirmationRequestSchema(), {"email": "mario.rossi@example.it", "language": "fr"})
    assert "language" in refused.value.fields


def test_confirming_requires_a_token() -> None:
    with pytest.raises(ValidationFailed) as refused:
        load(ConfirmSchema(), {})
    assert "token" in refused.value.fields
