"""The adhesion form (D-ENA-2, D-ENA-10): a PDF with the personal data, the request number as text and as a
Code 39 barcode the operator's scanner reads, the date, the declaration to sign, instructions and offices."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from fpdf import FPDF

TEXTS = {
    "it": {
        "title": "Istanze OnLine - Modulo di adesione",
        "number": "Numero di richiesta",
        "date": "Data della richiesta",
        "data": "Dati personali",
        "first_name": "Nome",
        "last_name": "Cognome",
        "codice_fiscale": "Codice fiscale",
        "email": "Indirizzo email di riferimento",
        "username": "Nome utente",
        "declaration_title": "Dichiarazione",
        "declaration": (
            "Il/la sottoscritto/a chiede l'abilitazione al servizio Istanze OnLine e dichiara che i dati "
            "sopra riportati sono veri. Firma da apporre davanti all'operatore, dopo "
            "l'identificazione con un "
            "documento di riconoscimento valido."
        ),
        "signature": "Firma: ______________________________",
        "instructions_title": "Istruzioni",
        "instructions": (
            "Stampa questo modulo e presentalo, entro la data di scadenza, presso la segreteria di una "
            "scuola o un ufficio autorizzato, con un documento di riconoscimento valido "
            "(carta d'identita, CIE, "
            "passaporto o patente) e il codice fiscale. L'operatore verifica l'identita e conferma "
            "l'abilitazione. Il codice personale temporaneo ti e stato inviato per email."
        ),
        "expires": "Da presentare entro",
        "offices": "Dove andare",
    },
    "en": {
        "title": "Istanze OnLine - Adhesion form",
        "number": "Request number",
        "date": "Date of the request",
        "data": "Personal data",
        "first_name": "First name",
        "last_name": "Last name",
        "codice_fiscale": "Codice fiscale",
        "email": "Reference email address",
        "username": "Username",
        "declaration_title": "Declaration",
        "declaration": (
            "I, the undersigned, ask to be enabled to the Istanze OnLine service and declare that the data "
            "above are true. To be signed in front of the operator, after identification "
            "with a valid ID document."
        ),
        "signature": "Signature: ______________________________",
        "instructions_title": "Instructions",
        "instructions": (
            "Print this form and bring it, before the expiry date, to the office of any school or an "
            "authorised office, with a valid ID document (identity card, CIE, passport or driving licence) "
            "and your codice fiscale. The operator checks your identity and confirms the enablement. The "
            "temporary personal code was sent to you by email."
        ),
        "expires": "To be presented by",
        "offices": "Where to go",
    },
}


@dataclass(frozen=True)
class FormData:
    number: str
    first_name: str
    last_name: str
    codice_fiscale: str
    email: str
    username: str | None
    language: str
    created_at: datetime
    expires_at: datetime
    offices: Sequence[tuple[str, str, str]]  # (code, name, address)


def _latin1(text: str) -> str:
    # The core PDF fonts are latin-1: anything outside it becomes "?" rather than an error.
    return text.encode("latin-1", "replace").decode("latin-1")


def render(data: FormData) -> bytes:
    texts = TEXTS["en" if data.language == "en" else "it"]
    pdf = FPDF(format="A4")
    pdf.set_title(texts["title"])
    pdf.set_creator("Polis enablement")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, _latin1(texts["title"]), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 12)
    pdf.cell(0, 8, f"{texts['number']}: {data.number}", new_x="LMARGIN", new_y="NEXT")
    pdf.code39(f"*{data.number}*", x=pdf.l_margin, y=pdf.get_y() + 2, w=1.2, h=14)
    pdf.set_y(pdf.get_y() + 20)
    pdf.cell(0, 7, f"{texts['date']}: {data.created_at:%d/%m/%Y}", new_x="LMARGIN", new_y="NEXT")
    pdf.cell(0, 7, f"{texts['expires']}: {data.expires_at:%d/%m/%Y}", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 13)
    pdf.cell(0, 8, _latin1(texts["data"]), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 12)
    rows = [
        (texts["last_name"], data.last_name),
        (texts["first_name"], data.first_name),
        (texts["codice_fiscale"], data.codice_fiscale),
        (texts["email"], data.email),
    ]
    if data.username:
        rows.append((texts["username"], data.username))
    for label, value in rows:
        pdf.cell(0, 7, _latin1(f"{label}: {value}"), new_x="LMARGIN", new_y="NEXT")
    for title, body in (("declaration_title", "declaration"), ("instructions_title", "instructions")):
        pdf.ln(3)
        pdf.set_font("Helvetica", "B", 13)
        pdf.cell(0, 8, _latin1(texts[title]), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 11)
        pdf.multi_cell(0, 6, _latin1(texts[body]), new_x="LMARGIN", new_y="NEXT")
        if body == "declaration":
            pdf.ln(6)
            pdf.cell(0, 7, _latin1(texts["signature"]), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 13)
    pdf.cell(0, 8, _latin1(texts["offices"]), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    for code, name, address in data.offices:
        pdf.multi_cell(0, 5, _latin1(f"{name} ({code}) - {address}"), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
