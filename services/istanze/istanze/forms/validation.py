"""Server-side validation of a section's answers against the procedure's form definition.

The definition is our own small format, not JSON Schema: it must also drive the page (Italian and English
labels, the order of sections, the schools picker, DPR 445/2000 declarations, attachments), which JSON
Schema does not describe, and each error must be one readable message next to its field in both
languages, which JSON Schema's error tree makes awkward. `procedures.service` checks the definition itself
before a procedure is published.

A field: {"name", "type", "required", "label_it", "label_en", ...} with, by type:
text (max_length, default 500), number (min, max, integer), date (ISO), choice (options: [codes]),
schools (max_items: ordered, no repeats, each in the schools list), declaration (ticked: true),
attachment (max_bytes, default 2 MiB; PDF only, checked by its content, not its name). An attachment's
answer is the file's bytes (a page's upload) or {"filename", "content_base64"} (the JSON API, and what is
kept): cleaned to {"filename", "content_type", "size", "sha256", "content_base64"}.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

PDF_MAGIC = b"%PDF-"
DEFAULT_TEXT_MAX = 500
DEFAULT_ATTACHMENT_MAX = 2 * 1024 * 1024

# Messages in both languages, keyed by the reason (the page picks the user's language).
MESSAGES = {
    "required": ("Campo obbligatorio.", "This field is required."),
    "too_long": ("Testo troppo lungo (massimo {limit} caratteri).", "Too long (at most {limit} characters)."),
    "not_number": ("Inserire un numero.", "Enter a number."),
    "out_of_range": ("Valore fuori dall'intervallo ammesso.", "Value out of the allowed range."),
    "not_date": ("Inserire una data nel formato AAAA-MM-GG.", "Enter a date as YYYY-MM-DD."),
    "not_an_option": ("Scegliere una delle voci dell'elenco.", "Choose one of the listed options."),
    "too_many_schools": ("Al massimo {limit} sedi.", "At most {limit} schools."),
    "unknown_school": ("Sede non presente nell'elenco: {value}.", "School not in the list: {value}."),
    "repeated_school": ("Sede indicata più volte: {value}.", "School listed more than once: {value}."),
    "not_ticked": ("La dichiarazione va confermata.", "The declaration must be ticked."),
    "not_pdf": ("Il file allegato deve essere un PDF.", "The attachment must be a PDF."),
    "too_large": ("File troppo grande (massimo {limit} byte).", "File too large (at most {limit} bytes)."),
    "unknown_field": ("Campo non previsto dal modulo.", "Field not in the form."),
    "not_a_file": ("Allegato non leggibile.", "The attachment cannot be read."),
    "not_text": ("Valore non valido.", "Not a valid value."),
}
FILENAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class FieldError(ValueError):
    def __init__(self, reason: str, **params: Any) -> None:
        super().__init__(reason)
        self.reason, self.params = reason, params

    def message(self, language: str = "it") -> str:
        italian, english = MESSAGES[self.reason]
        return (english if language == "en" else italian).format(**self.params)


def section_fields(form: Mapping[str, Any], section_id: str) -> list[Mapping[str, Any]]:
    """The fields of one section; KeyError when the form has no such section (a tampered request)."""
    for section in form["sections"]:
        if section["id"] == section_id:
            return list(section["fields"])
    raise KeyError(section_id)


def validate_section(
    form: Mapping[str, Any],
    section_id: str,
    answers: Mapping[str, Any],
    *,
    schools: Mapping[str, str],
) -> tuple[dict[str, Any], dict[str, FieldError]]:
    """The cleaned answers of a section and the errors by field name (cleaned is partial when errors)."""
    fields = section_fields(form, section_id)
    known = {f["name"] for f in fields}
    errors: dict[str, FieldError] = {n: FieldError("unknown_field") for n in answers if n not in known}
    cleaned: dict[str, Any] = {}
    for field in fields:
        try:
            value = _clean(field, answers.get(field["name"]), schools)
        except FieldError as exc:
            errors[field["name"]] = exc
        else:
            if value is not None:
                cleaned[field["name"]] = value
    return cleaned, errors


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value is False


def _clean(field: Mapping[str, Any], value: Any, schools: Mapping[str, str]) -> Any:
    kind = field["type"]
    if _empty(value):
        if field.get("required"):
            raise FieldError("not_ticked" if kind == "declaration" else "required")
        return None
    if kind == "text":
        if not isinstance(value, str | int | float):
            raise FieldError("not_text")
        text = str(value).strip()
        limit = int(field.get("max_length", DEFAULT_TEXT_MAX))
        if len(text) > limit:
            raise FieldError("too_long", limit=limit)
        return text
    if kind == "number":
        try:
            number = Decimal(str(value).strip().replace(",", "."))
        except InvalidOperation:
            raise FieldError("not_number") from None
        if not number.is_finite() or (field.get("integer") and number != number.to_integral_value()):
            raise FieldError("not_number")
        if ("min" in field and number < Decimal(str(field["min"]))) or (
            "max" in field and number > Decimal(str(field["max"]))
        ):
            raise FieldError("out_of_range")
        return str(number)
    if kind == "date":
        try:
            return date.fromisoformat(str(value)).isoformat()
        except ValueError:
            raise FieldError("not_date") from None
    if kind == "choice":
        if not isinstance(value, str) or value not in field["options"]:
            raise FieldError("not_an_option")
        return value
    if kind == "schools":
        if not isinstance(value, str | list):
            raise FieldError("unknown_school", value="?")
        chosen = [value] if isinstance(value, str) else list(value)
        chosen = [str(c).strip().upper() for c in chosen if str(c).strip()]
        limit = int(field.get("max_items", 20))
        if len(chosen) > limit:
            raise FieldError("too_many_schools", limit=limit)
        seen: set[str] = set()
        for code in chosen:
            if code not in schools:
                raise FieldError("unknown_school", value=code[:16])
            if code in seen:
                raise FieldError("repeated_school", value=code)
            seen.add(code)
        return chosen
    if kind == "declaration":
        if value not in (True, "on", "true", "1", 1):
            raise FieldError("not_ticked")
        return True
    if kind == "attachment":
        filename, content = _attachment(value)
        limit = int(field.get("max_bytes", DEFAULT_ATTACHMENT_MAX))
        if len(content) > limit:
            raise FieldError("too_large", limit=limit)
        if not content.startswith(PDF_MAGIC):
            raise FieldError("not_pdf")
        return {
            "filename": filename,
            "content_type": "application/pdf",
            "size": len(content),
            "sha256": hashlib.sha256(content).hexdigest(),
            "content_base64": base64.b64encode(content).decode("ascii"),
        }
    raise FieldError("unknown_field")


def _attachment(value: Any) -> tuple[str, bytes]:
    """(a safe file name, the content) of an attachment answer: bytes, or {"filename", "content_base64"}."""
    if isinstance(value, bytes | bytearray):
        return "allegato.pdf", bytes(value)
    if not isinstance(value, Mapping) or not isinstance(value.get("content_base64"), str):
        raise FieldError("not_a_file")
    try:
        content = base64.b64decode(value["content_base64"], validate=True)
    except (binascii.Error, ValueError):
        raise FieldError("not_a_file") from None
    name = FILENAME_UNSAFE.sub("_", str(value.get("filename") or "allegato.pdf")).strip("._")[:100]
    return (name or "allegato.pdf"), content
