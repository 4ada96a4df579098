"""The password policy (issue 3 item 4, NIST SP 800-63B Rev 4): length, blocklist, zxcvbn, personal data."""

from __future__ import annotations

import pytest
from iam.passwords.policy import MAX_LENGTH, PasswordProblem, blocklist, check_password, messages

PERSON = {
    "username": "mario.rossi",
    "first_name": "Mario",
    "last_name": "Rossi",
    "codice_fiscale": "RSSMRA80A01H501U",
}


def test_a_long_passphrase_without_symbols_or_capitals_is_accepted() -> None:
    assert check_password("tavolo lampone bicicletta nuvola", **PERSON) == []


def test_the_default_minimum_is_15_characters_and_it_is_configurable() -> None:
    fourteen = "tavolo lampone"

    assert PasswordProblem.TOO_SHORT in check_password(fourteen, **PERSON)
    assert PasswordProblem.TOO_SHORT not in check_password(fourteen, **PERSON, min_length=8)


def test_64_characters_are_allowed_and_more_than_the_maximum_is_refused() -> None:
    sixty_four = ("giraffa verde sotto la pioggia di agosto con il violino rotto ok")[:64]

    assert len(sixty_four) == 64
    assert check_password(sixty_four, **PERSON) == []
    assert check_password("a" * (MAX_LENGTH + 1), **PERSON) == [PasswordProblem.TOO_LONG]


def test_the_bundled_blocklist_holds_at_least_the_10000_most_common_passwords() -> None:
    words = blocklist()

    assert len(words) >= 10_000
    assert {"123456", "password", "qwerty"} <= words


@pytest.mark.parametrize("common", ["123456789987654321", "1qaz2wsx3edc4rfv", "QAZWSXEDCRFVTGB"])
def test_a_common_password_is_refused_even_when_long_enough(common: str) -> None:
    assert PasswordProblem.COMMON in check_password(common, **PERSON)


def test_a_guessable_password_is_refused_by_its_zxcvbn_score() -> None:
    assert check_password("aaaaaaaaaaaaaaaaaaaa", **PERSON) == [PasswordProblem.GUESSABLE]


@pytest.mark.parametrize(
    "personal",
    [
        "io sono Mario e basta cosi",
        "ROSSI ama la pizza tanto",
        "mario.rossi e la sua bici",
        "rssmra80a01h501u oggi",
    ],
)
def test_a_password_containing_username_name_or_codice_fiscale_is_refused(personal: str) -> None:
    assert PasswordProblem.CONTAINS_PERSONAL_DATA in check_password(personal, **PERSON)


def test_accents_do_not_hide_a_name() -> None:
    problems = check_password(
        "niccolo corre sempre al mare",
        username=None,
        first_name="Niccolò",
        last_name="D'Amico",
        codice_fiscale=None,
    )

    assert PasswordProblem.CONTAINS_PERSONAL_DATA in problems


def test_every_problem_has_a_message_in_italian_and_english() -> None:
    for problem in PasswordProblem:
        assert problem.message("it") != problem.message("en")
    assert messages([PasswordProblem.TOO_SHORT], "en", min_length=20)[0].startswith(
        "The password must have at least 20"
    )
