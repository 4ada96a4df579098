"""Variazione dati di recapito (D-IST-4): validating and recording the user's contact details; no Flask here.

Phones are parsed by `phonenumbers` (Italian numbers may omit +39) and kept in E.164; the mobile must be a
mobile number. The domicile is checked against the official lists that `python-codicefiscale` ships (the
ISTAT comuni with their province and validity dates, the states): in Italy the comune must exist today and
belong to the province given; abroad the state must be in the list and the city is free text. Every change
is recorded with its time (contact_changes) next to the details in force (contact_details).
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any

import phonenumbers
from codicefiscale.data import get_countries_data, get_municipalities_data
from sqlalchemy import select
from sqlalchemy.orm import Session

from istanze.contacts.models import ContactChange, ContactDetails
from istanze.procedures.service import utc_now

ITALY = "Italia"
FIELDS = ("mobile_phone", "home_phone", "address", "postal_code", "nation", "province", "comune", "locality")
LIMITS = {"address": 200, "postal_code": 16, "nation": 64, "province": 2, "comune": 100, "locality": 100}
CAP = re.compile(r"^\d{5}$")

MESSAGES = {
    "required": ("Campo obbligatorio.", "This field is required."),
    "too_long": ("Testo troppo lungo (massimo {limit} caratteri).", "Too long (at most {limit} characters)."),
    "not_a_phone": ("Numero di telefono non valido.", "Not a valid phone number."),
    "not_a_mobile": ("Inserire un numero di cellulare.", "Enter a mobile phone number."),
    "unknown_nation": ("Stato non presente nell'elenco degli Stati.", "State not in the list of states."),
    "unknown_province": (
        "Provincia non presente nell'elenco ufficiale.",
        "Province not in the official list.",
    ),
    "unknown_comune": (
        "Comune non presente nell'elenco ufficiale (ISTAT).",
        "Comune not in the official (ISTAT) list.",
    ),
    "comune_not_in_province": (
        "Il comune non appartiene alla provincia indicata.",
        "The comune is not in the province given.",
    ),
    "not_a_cap": ("Il CAP è di cinque cifre.", "The postal code (CAP) has five digits."),
    "only_in_italy": ("Solo per un domicilio in Italia.", "Only for a domicile in Italy."),
    "not_text": ("Valore non valido.", "Not a valid value."),
    "unknown_field": ("Campo non previsto.", "Field not expected."),
}

Clock = Callable[[], datetime]


class ContactError(ValueError):
    def __init__(self, reason: str, **params: Any) -> None:
        super().__init__(reason)
        self.reason, self.params = reason, params

    def message(self, language: str = "it") -> str:
        italian, english = MESSAGES[self.reason]
        return (english if language == "en" else italian).format(**self.params)


class ContactsInvalid(ValueError):
    """Some contact details are wrong: nothing was saved. `errors` by field name."""

    def __init__(self, errors: Mapping[str, ContactError]) -> None:
        super().__init__("contact details not valid")
        self.errors = dict(errors)


def _key(text: str) -> str:
    """Case, accents, apostrophes and spaces ignored: "Sant'Angelo" matches "SANT ANGELO"."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "", plain)


@dataclass(frozen=True)
class Comune:
    name: str
    province: str
    code: str  # codice catastale (Belfiore)


def _valid_on(row: Mapping[str, Any], day: date) -> bool:
    created = row.get("date_created") or ""
    deleted = row.get("date_deleted") or ""
    if created and date.fromisoformat(created[:10]) > day:
        return False
    return not (deleted and date.fromisoformat(deleted[:10]) < day)


@cache
def _comuni_rows() -> tuple[Mapping[str, Any], ...]:
    return tuple(get_municipalities_data())


def comuni_on(day: date) -> dict[tuple[str, str], Comune]:
    """The comuni existing on `day`, by (normalised name, province)."""
    found: dict[tuple[str, str], Comune] = {}
    for row in _comuni_rows():
        if _valid_on(row, day):
            for name in {row["name"], row.get("name_trans") or row["name"], row.get("name_alt") or ""} - {""}:
                found[(_key(name), row["province"])] = Comune(row["name"], row["province"], row["code"])
    return found


@cache
def _comuni_today(day: date) -> dict[tuple[str, str], Comune]:
    return comuni_on(day)


def provinces(day: date | None = None) -> list[str]:
    """The provinces' sigle (the comuni's, on `day`), sorted: the page's list."""
    return sorted({p for (_, p) in _comuni_today(day or date.today())})


def comuni_of(province: str, day: date | None = None) -> list[str]:
    """The official names of the comuni of one province on `day`, sorted: the page's list."""
    return sorted({c.name for (_, p), c in _comuni_today(day or date.today()).items() if p == province})


@cache
def _states() -> dict[str, str]:
    """Active states by normalised name (Italian, alternative, English, slugs) -> official Italian name."""
    found = {_key(ITALY): ITALY, "italy": ITALY}
    for row in get_countries_data():
        if not row.get("active", True) or row.get("date_deleted"):
            continue
        for name in [
            row["name"],
            row.get("name_alt") or "",
            row.get("name_alt_en") or "",
            *row["name_slugs"],
        ]:
            if name:
                found.setdefault(_key(name), row["name"])
    return found


def states() -> list[str]:
    """The official names of the states (Italia first): the page's list."""
    return [ITALY, *sorted({v for v in _states().values() if v != ITALY})]


def _phone(value: str, *, mobile: bool) -> str:
    try:
        number = phonenumbers.parse(value, "IT")
    except phonenumbers.NumberParseException:
        raise ContactError("not_a_phone") from None
    if not phonenumbers.is_valid_number(number):
        raise ContactError("not_a_phone")
    kind = phonenumbers.number_type(number)
    if mobile and kind not in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        raise ContactError("not_a_mobile")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def validate(data: Mapping[str, Any], *, today: date) -> tuple[dict[str, Any], dict[str, ContactError]]:
    """The cleaned contact details and the errors by field (D-IST-4)."""
    errors: dict[str, ContactError] = {n: ContactError("unknown_field") for n in data if n not in FIELDS}
    text: dict[str, str] = {}
    for name in FIELDS:
        value = data.get(name)
        if value is None:
            value = ""
        if not isinstance(value, str):
            errors[name] = ContactError("not_text")
            continue
        value = " ".join(value.split())
        if name in LIMITS and len(value) > LIMITS[name]:
            errors[name] = ContactError("too_long", limit=LIMITS[name])
            continue
        text[name] = value
    cleaned: dict[str, Any] = {}
    for name, mobile in (("mobile_phone", True), ("home_phone", False)):
        if text.get(name):
            try:
                cleaned[name] = _phone(text[name], mobile=mobile)
            except ContactError as exc:
                errors[name] = exc
        elif name in text:
            cleaned[name] = None
    if not text.get("mobile_phone") and "mobile_phone" not in errors:
        errors["mobile_phone"] = ContactError("required")
    if "address" in text:
        if text["address"]:
            cleaned["address"] = text["address"]
        else:
            errors["address"] = ContactError("required")
    nation = _states().get(_key(text.get("nation", "")))
    if "nation" in text and not text["nation"]:
        errors["nation"] = ContactError("required")
    elif "nation" in text and nation is None:
        errors["nation"] = ContactError("unknown_nation")
    cleaned["nation"] = nation
    if nation == ITALY:
        _italian_domicile(text, cleaned, errors, today)
    elif nation is not None:
        for name in ("province", "comune"):
            if text.get(name):
                errors[name] = ContactError("only_in_italy")
        cleaned.update(province=None, comune=None, comune_code=None)
        cleaned["postal_code"] = text.get("postal_code") or None
        if not text.get("locality") and "locality" not in errors:
            errors["locality"] = ContactError("required")
        cleaned["locality"] = text.get("locality") or None
    return cleaned, errors


def _italian_domicile(
    text: Mapping[str, str], cleaned: dict[str, Any], errors: dict[str, ContactError], today: date
) -> None:
    comuni = _comuni_today(today)
    province = text.get("province", "").upper()
    known_provinces = {p for (_, p) in comuni}
    if not province:
        errors.setdefault("province", ContactError("required"))
    elif province not in known_provinces:
        errors.setdefault("province", ContactError("unknown_province"))
    name = text.get("comune", "")
    if not name:
        errors.setdefault("comune", ContactError("required"))
    elif "province" not in errors:
        comune = comuni.get((_key(name), province))
        if comune is None:
            elsewhere = any(k == _key(name) for (k, _) in comuni)
            errors.setdefault(
                "comune", ContactError("comune_not_in_province" if elsewhere else "unknown_comune")
            )
        else:
            cleaned.update(province=comune.province, comune=comune.name, comune_code=comune.code)
    postal_code = text.get("postal_code", "")
    if postal_code and not CAP.match(postal_code):
        errors.setdefault("postal_code", ContactError("not_a_cap"))
    cleaned["postal_code"] = postal_code or None
    if text.get("locality"):
        errors.setdefault("locality", ContactError("only_in_italy"))
    cleaned["locality"] = None


def _as_dict(row: ContactDetails) -> dict[str, Any]:
    return {
        "mobile_phone": row.mobile_phone,
        "home_phone": row.home_phone,
        "address": row.address,
        "postal_code": row.postal_code,
        "nation": row.nation,
        "province": row.province,
        "comune": row.comune,
        "comune_code": row.comune_code,
        "locality": row.locality,
    }


def contacts_of(session: Session, *, account_id: uuid.UUID) -> dict[str, Any] | None:
    """The contact details in force (a dict of FIELDS plus comune_code), None when never given."""
    return details_of(session.get(ContactDetails, account_id))


def details_of(row: ContactDetails | None) -> dict[str, Any] | None:
    """`contacts_of` of a row the caller read itself (the submission reads it with the draft)."""
    return _as_dict(row) if row else None


def update_contacts(
    session: Session, *, account_id: uuid.UUID, data: Mapping[str, Any], now: Clock = utc_now
) -> dict[str, Any]:
    """Validate and record the whole set of contact details (ContactsInvalid: nothing saved); the change is
    kept with its time. Returns the details now in force."""
    at = now()
    cleaned, errors = validate(data, today=at.date())
    if errors:
        raise ContactsInvalid(errors)
    row = session.get(ContactDetails, account_id, with_for_update=True)
    before = _as_dict(row) if row else None
    if row is None:
        row = ContactDetails(account_id=account_id, updated_at=at, **cleaned)
        session.add(row)
    else:
        for name, value in cleaned.items():
            setattr(row, name, value)
        row.updated_at = at
    after = _as_dict(row)
    if after != before:
        session.add(ContactChange(account_id=account_id, changed_at=at, before=before, after=after))
    session.flush()
    return after


def history(session: Session, *, account_id: uuid.UUID) -> list[ContactChange]:
    """Every recorded change, oldest first."""
    return list(
        session.scalars(
            select(ContactChange)
            .where(ContactChange.account_id == account_id)
            .order_by(ContactChange.changed_at, ContactChange.id)
        )
    )


RECEIPT_LABELS = (
    ("mobile_phone", "Cellulare"),
    ("home_phone", "Telefono di casa"),
    ("address", "Indirizzo"),
    ("postal_code", "CAP"),
    ("comune", "Comune"),
    ("province", "Provincia"),
    ("locality", "Località"),
    ("nation", "Stato"),
)


def receipt_lines(details: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """The (label, value) lines the receipt prints for the recapito in force at submission."""
    if not details:
        return [("Recapito", "non indicato")]
    return [(label, str(details[name])) for name, label in RECEIPT_LABELS if details.get(name)]
