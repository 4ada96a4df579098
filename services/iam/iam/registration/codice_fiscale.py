"""Codice fiscale checks through python-codicefiscale: syntax, check character, agreement with personal data.

D-ACC-3: the personal data must agree with the codice fiscale (surname and name consonants, birth date, sex,
birth place as an ISTAT comune or a foreign state); omocodici (digits replaced by letters) are accepted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from codicefiscale import codicefiscale as cf

SYNTAX = re.compile(
    r"^[A-Z]{6}[0-9LMNPQRSTUV]{2}[ABCDEHLMPRST][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z]$"
)


@dataclass(frozen=True)
class BirthPlace:
    code: str  # Belfiore code: H501 (Roma), Z110 (Francia)
    name: str  # "Roma (RM)" or "Francia"


def normalise(value: str) -> str:
    """Upper case without spaces: what users type is often "rss mra 80a01 h501u"."""
    return "".join(value.split()).upper()


def problem(code: str) -> str | None:
    """None for a well-formed codice fiscale with the right check character, else a problem code."""
    if not SYNTAX.match(code):
        return "cf_syntax"
    if cf.encode_cin(code) != code[15]:
        return "cf_checksum"
    try:
        cf.decode(code)
    except ValueError:
        return "cf_invalid"  # right shape and check character, but no such date or birth place code
    return None


def is_omocode(code: str) -> bool:
    return cf.is_omocode(code)


def birth_place(code: str) -> BirthPlace:
    """The comune or foreign state the codice fiscale names (omocodia undone by the library)."""
    place = cf.decode(code)["birthplace"]
    province = place.get("province")
    name = place["name"] if province in (None, "", "EE") else f"{place['name']} ({province})"
    return BirthPlace(code=place["code"], name=name)


def disagreements(
    code: str, *, last_name: str, first_name: str, birth_date: date, sex: str, birth_place_name: str
) -> dict[str, str]:
    """Field -> problem code for every personal datum that does not agree with `code` (a valid CF)."""
    decoded = cf.decode(code)
    raw = decoded["raw"]
    found: dict[str, str] = {}
    if cf.encode_lastname(last_name) != raw["lastname"]:
        found["last_name"] = "last_name_mismatch"
    if cf.encode_firstname(first_name) != raw["firstname"]:
        found["first_name"] = "first_name_mismatch"
    born = decoded["birthdate"].date()
    # The CF holds two digits of the year: 1925 and 2025 look alike, so only year % 100 is compared.
    if (born.year % 100, born.month, born.day) != (birth_date.year % 100, birth_date.month, birth_date.day):
        found["birth_date"] = "birth_date_mismatch"
    if decoded["gender"] != sex:
        found["sex"] = "sex_mismatch"
    try:
        typed_code = cf.encode_birthplace(birth_place_name, birth_date.isoformat())
    except ValueError:
        found["birth_place"] = "birth_place_unknown"
    else:
        if typed_code != decoded["birthplace"]["code"]:
            found["birth_place"] = "birth_place_mismatch"
    return found
