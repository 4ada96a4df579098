"""Personal names: letters of any script, spaces, apostrophes and hyphens, normalised (issue 13 item 1)."""

from __future__ import annotations

import unicodedata

import pytest
from iam.accounts import names


@pytest.mark.parametrize(
    "value",
    [
        "Rossi",
        "D'Angelo",
        "D\u2019Angelo",
        "Nicolò",
        "De Luca-Bianchi",
        "Ολυμπία",
        "李",
        "Anne-Marie O' Brien",
    ],
)
def test_names_of_any_script_with_apostrophes_and_hyphens_are_accepted(value: str) -> None:
    assert names.is_valid(value)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "Greco<img src=x onerror=alert(1)>",
        "Marta 123",
        "Marta 😀",
        "-Rossi",
        "Rossi-",
        "Ro--ssi",
        "x" * 101,
    ],
)
def test_digits_symbols_markup_and_stray_separators_are_refused(value: str) -> None:
    assert not names.is_valid(value)


def test_a_name_is_nfc_trimmed_with_single_spaces() -> None:
    decomposed = "Nicolo\u0300"  # o + combining grave accent, as some keyboards send it
    assert names.is_valid(decomposed)
    assert names.normalise(f"  Maria \t  {decomposed}  ") == "Maria Nicolò"
    assert unicodedata.is_normalized("NFC", names.normalise(decomposed))
