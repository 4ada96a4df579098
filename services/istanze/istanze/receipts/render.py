"""The receipt of a submission (D-IST-3): a PDF/A-2b document made with fpdf2.

PDF/A-2b (ISO 19005-2, level b) is what an archive keeps: every font embedded (DejaVu Sans, shipped in
`fonts/`, subset so each render stays cheap), the XMP metadata with the pdfaid part and conformance, and an
output intent with the sRGB ICC profile (fpdf2 adds both when `enforce_compliance` is set, and refuses what
PDF/A forbids). fpdf2 rather than WeasyPrint: it is pure Python (WeasyPrint needs Pango, HarfBuzz and their
system libraries in every image), and the receipt is a fixed layout that needs no HTML engine; measured on
the same receipt the two cost about the same (README, "Receipts").

The receipt holds the answers section by section, the contact details in force at submission (D-IST-4),
the protocol number, the segnatura and the date and time of registration in Italian time.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fontTools.ttLib import TTFont
from fpdf import FPDF

from istanze.procedures.window import ROME

FONTS = Path(__file__).parent / "fonts"
REGULAR, BOLD = FONTS / "DejaVuSans.ttf", FONTS / "DejaVuSans-Bold.ttf"
COMPLIANCE = "PDF/A-2B"
MAX_VALUE = 2000  # characters of one answer printed (a text field is at most its max_length anyway)

# fontTools' subsetter narrates every render at INFO (about 70 records: "glyf pruned", "name pruned", ...):
# in a service they were each a JSON log line, a few ms of CPU per submission. Its warnings still show.
logging.getLogger("fontTools").setLevel(logging.WARNING)


@dataclass(frozen=True)
class ReceiptData:
    procedure_code: str
    procedure_title: str
    procedure_version: int
    form: Mapping[str, Any]
    answers: Mapping[str, Mapping[str, Any]]
    protocol_number: str  # as printed: seven digits at least
    segnatura: str
    registered_at: datetime  # aware
    account_id: str
    applicant: str | None = None  # the user's name as the token says it, when it does
    contacts: Sequence[tuple[str, str]] = field(default_factory=tuple)  # (label, value) of the recapito
    schools: Mapping[str, str] = field(default_factory=dict)
    withdrawn_at: datetime | None = None


@cache
def _printable() -> frozenset[int]:
    """The code points both shipped fonts can draw."""
    points: set[int] | None = None
    for path in (REGULAR, BOLD):
        font = TTFont(path, lazy=True)
        cmap = set(font.getBestCmap())
        font.close()
        points = cmap if points is None else points & cmap
    return frozenset(points or ())


def printable(text: str) -> str:
    """`text` with every character the font cannot draw replaced by "?" (and control characters dropped)."""
    drawable = _printable()
    out = []
    for char in text:
        if char in "\n\t":
            out.append(" " if char == "\t" else char)
        elif ord(char) in drawable:
            out.append(char)
        elif ord(char) >= 32:
            out.append("?")
    return "".join(out)


def italian_time(moment: datetime) -> str:
    """dd/mm/yyyy hh:mm:ss in Italian time (the receipt and the emails say "ora italiana")."""
    return moment.astimezone(ZoneInfo(ROME)).strftime("%d/%m/%Y %H:%M:%S")


def answer_text(kind: str, value: Any, schools: Mapping[str, str]) -> str:
    """One answer as the receipt prints it."""
    if value is None or value == "" or value == []:
        return "—"
    if kind == "declaration":
        return "Sì, dichiarato"
    if kind == "schools":
        codes = [value] if isinstance(value, str) else list(value)
        return "\n".join(
            f"{i}. {code}" + (f" – {schools[code]}" if code in schools else "")  # noqa: RUF001
            for i, code in enumerate(codes, 1)
        )
    if kind == "attachment":
        if isinstance(value, Mapping):
            size = value.get("size")
            if size is None and value.get("content_base64"):
                size = len(base64.b64decode(value["content_base64"]))
            name, digest = value.get("filename", "allegato.pdf"), value.get("sha256", "")
            return f"{name} (PDF, {size} byte, SHA-256 {digest})"
        return "allegato PDF"
    if kind == "choice" and isinstance(value, str):
        return value
    return str(value)[:MAX_VALUE]


class _Receipt(FPDF):
    _polis_footer = ""  # the segnatura, on every page

    def footer(self) -> None:
        self.set_y(-15)
        self.set_font("DejaVu", "", 8)
        self.cell(0, 10, f"{self._polis_footer} — pagina {self.page_no()}/{{nb}}", align="C")


def render(data: ReceiptData) -> bytes:
    """The receipt PDF (PDF/A-2b)."""
    pdf = _Receipt(format="A4", enforce_compliance=COMPLIANCE)
    pdf._polis_footer = printable(data.segnatura)
    pdf.add_font("DejaVu", "", str(REGULAR))
    pdf.add_font("DejaVu", "B", str(BOLD))
    pdf.set_title(printable(f"Ricevuta di inoltro – {data.procedure_title}"))  # noqa: RUF001
    pdf.set_subject(printable(f"Protocollo {data.protocol_number}"))
    pdf.set_author("Istanze OnLine")
    pdf.set_creator("Polis istanze")
    pdf.set_lang("it-IT")
    pdf.set_creation_date(data.registered_at)
    pdf.set_auto_page_break(True, margin=20)
    pdf.add_page()
    width = pdf.epw

    def heading(text: str, size: int = 13) -> None:
        pdf.ln(2)
        pdf.set_font("DejaVu", "B", size)
        pdf.multi_cell(width, 8, printable(text), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("DejaVu", "", 10)

    def row(label: str, value: str) -> None:
        pdf.set_font("DejaVu", "B", 10)
        pdf.multi_cell(width, 5.5, printable(label), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("DejaVu", "", 10)
        pdf.multi_cell(width, 5.5, printable(value), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)

    heading("Istanze OnLine – Ricevuta di inoltro", 16)  # noqa: RUF001
    heading(data.procedure_title, 13)
    if data.withdrawn_at is not None:
        heading(f"ANNULLATA: inoltro ritirato il {italian_time(data.withdrawn_at)} (ora italiana)", 11)
    row("Numero di protocollo", data.protocol_number)
    row("Segnatura di protocollo", data.segnatura)
    row("Data e ora di registrazione (ora italiana)", italian_time(data.registered_at))
    row("Procedura", f"{data.procedure_code} (versione {data.procedure_version})")
    if data.applicant:
        row("Richiedente", data.applicant)
    row("Identificativo dell'utenza", data.account_id)

    if data.contacts:
        heading("Dati di recapito")
        for label, value in data.contacts:
            row(label, value)

    for section in data.form.get("sections", []):
        heading(section.get("title_it") or section["id"])
        answers = data.answers.get(section["id"], {})
        for item in section["fields"]:
            label = item.get("label_it") or item["name"]
            row(label, answer_text(item["type"], answers.get(item["name"]), data.schools))

    heading("Nota")
    pdf.multi_cell(
        width,
        5,
        printable(
            "La presente ricevuta attesta l'inoltro dell'istanza e la sua registrazione di protocollo "
            "(DPR 445/2000, art. 57). L'impronta SHA-256 di questo documento è registrata con il numero "
            "di protocollo: conservarla."
        ),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    return bytes(pdf.output())
