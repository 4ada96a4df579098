"""Personal names as people write them: letters of any script, spaces, apostrophes and hyphens, normalised.

A name is stored NFC-normalised, trimmed, with single spaces; each part between separators starts with a
letter and may carry combining marks (accents typed as two code points). Digits, symbols, emoji and markup
are refused: a name travels to partners in the `name` claim and into usernames (D-ACC-2).
"""

from __future__ import annotations

import unicodedata

from marshmallow import ValidationError

MAX_LENGTH = 100
APOSTROPHES = "'\u2019"  # the typewriter one and the typographic one (U+2019)
HYPHENS = "-\u2010"
SEPARATORS = " " + APOSTROPHES + HYPHENS
# What the OpenAPI documents state (issue 17): a Latin-script subset of what is_valid accepts, which any
# letter of any script; a name of this form is never refused.
_LETTER = "[A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u00ff]"
PATTERN = f"^{_LETTER}+(?:(?:[ \u2010-]|['\u2019] ?){_LETTER}+)*$"
SCHEMA = {"pattern": PATTERN, "maxLength": MAX_LENGTH, "minLength": 1}


def normalise(value: str) -> str:
    """NFC, trimmed, every run of whitespace one space."""
    return " ".join(unicodedata.normalize("NFC", value).split())


def is_valid(value: str) -> bool:
    """True when the normalised value is a name: 1 to 100 characters, letters joined by separators."""
    name = normalise(value)
    if not 0 < len(name) <= MAX_LENGTH:
        return False
    previous = " "  # a name starts with a letter
    for char in name:
        category = unicodedata.category(char)
        if category.startswith("L"):
            pass
        elif category.startswith("M"):  # a combining accent belongs to the letter before it
            if not unicodedata.category(previous).startswith(("L", "M")):
                return False
        elif char in SEPARATORS:
            if previous in SEPARATORS and not (char == " " and previous in APOSTROPHES):
                return False
        else:
            return False
        previous = char
    return previous not in SEPARATORS


def validate(value: str) -> None:
    """The marshmallow validator of a name field."""
    if not is_valid(value):
        raise ValidationError("Use letters, spaces, apostrophes and hyphens only (at most 100 characters).")
