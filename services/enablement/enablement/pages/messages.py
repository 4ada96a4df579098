"""What the user reads for each problem code of the enablement pages, in Italian and English."""

from __future__ import annotations

from typing import Any

from flask_babel import get_locale

MESSAGES: dict[str, dict[str, str]] = {
    "required": {"it": "Campo obbligatorio.", "en": "This field is required."},
    "too_long": {"it": "Il testo è troppo lungo.", "en": "The text is too long."},
    "cf_format": {
        "it": "Il codice fiscale ha 16 caratteri, lettere e cifre.",
        "en": "The codice fiscale has 16 characters, letters and digits.",
    },
    "not_confirmed": {"it": "Conferma che i dati sono corretti.", "en": "Confirm that the data are correct."},
    "code_not_alphanumeric": {
        "it": "Il codice personale contiene solo lettere e cifre.",
        "en": "The personal code contains only letters and digits.",
    },
    "code_too_short": {
        "it": "Il codice personale è troppo corto: almeno {min} caratteri.",
        "en": "The personal code is too short: at least {min} characters.",
    },
    "code_common": {
        "it": "Questo codice è troppo comune: scegline uno meno prevedibile.",
        "en": "This code is too common: choose a less predictable one.",
    },
    "code_is_password": {
        "it": "Il codice personale non può essere uguale alla password.",
        "en": "The personal code cannot be the same as your password.",
    },
    "code_is_temporary": {
        "it": "Non puoi usare il codice temporaneo: scegline uno tuo.",
        "en": "You cannot keep the temporary code: choose one of your own.",
    },
    "code_same_as_current": {
        "it": "Il nuovo codice deve essere diverso da quello attuale.",
        "en": "The new code must differ from the current one.",
    },
    "code_differs": {"it": "I due codici non coincidono.", "en": "The two codes do not match."},
    "wrong_personal_code": {
        "it": "Il codice personale non è corretto.",
        "en": "The personal code is not correct.",
    },
    "personal_code_locked": {
        "it": "Troppi codici errati: riprova tra {seconds} secondi.",
        "en": "Too many wrong codes: try again in {seconds} seconds.",
    },
    "recovery_refused": {
        "it": "Il codice fiscale o la risposta alla domanda di sicurezza non sono corretti.",
        "en": "The codice fiscale or the answer to the security question is not correct.",
    },
    "recovery_locked": {
        "it": "Troppe risposte errate: il recupero è bloccato, riprova più tardi.",
        "en": "Too many wrong answers: recovery is locked, try again later.",
    },
    "not_found": {
        "it": "Nessuna richiesta in attesa corrisponde.",
        "en": "No pending request matches.",
    },
    "document_expired": {
        "it": "Il documento è scaduto: non può essere accettato.",
        "en": "The document has expired: it cannot be accepted.",
    },
    "date_in_future": {"it": "La data non può essere futura.", "en": "The date cannot be in the future."},
    "date_format": {"it": "Scrivi una data valida.", "en": "Enter a valid date."},
    "form_not_signed": {
        "it": "Il modulo deve essere firmato davanti a te.",
        "en": "The form must be signed in front of you.",
    },
    "document_format": {
        "it": "Il numero del documento ha da 4 a 20 lettere o cifre.",
        "en": "The document number has 4 to 20 letters or digits.",
    },
    "choose": {"it": "Scegli una delle voci.", "en": "Choose one of the options."},
    "not_your_office": {
        "it": "Non operi per questo ufficio.",
        "en": "You do not act for this office.",
    },
    "own_request": {
        "it": "Non puoi confermare la tua stessa richiesta.",
        "en": "You cannot confirm your own request.",
    },
    "operator_unknown": {
        "it": "Nessun account ha questo nome utente.",
        "en": "No account has this username.",
    },
    "not_assigned": {
        "it": "L'operatore non è assegnato a questo ufficio.",
        "en": "The operator is not assigned to this office.",
    },
    "invalid_link": {
        "it": "Questo collegamento non è valido: è stato alterato, già usato o è scaduto.",
        "en": "This link is not valid: it was altered, already used or has expired.",
    },
    "service_unavailable": {
        "it": "Servizio momentaneamente non disponibile, riprova tra poco.",
        "en": "The service is temporarily unavailable, please try again shortly.",
    },
}


def language() -> str:
    return "en" if str(get_locale() or "it").startswith("en") else "it"


def message(code: str, **values: Any) -> str:
    texts = MESSAGES.get(code) or MESSAGES["required"]
    return texts[language()].format(**values)


def messages(fields: dict[str, list[str]], **values: Any) -> dict[str, list[str]]:
    return {name: [message(code, **values) for code in codes] for name, codes in fields.items()}
