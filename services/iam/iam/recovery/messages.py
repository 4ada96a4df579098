"""What the user reads for each problem code of the recovery, Area Riservata and security-officer pages.

Codes shared with registration (captcha_failed, passwords_differ, the password policy's) come from
iam.registration.messages, so one problem reads the same everywhere.
"""

from __future__ import annotations

from flask_babel import get_locale

from iam.registration.messages import message as registration_message

MESSAGES: dict[str, dict[str, str]] = {
    "required": {"it": "Campo obbligatorio.", "en": "This field is required."},
    "too_long": {"it": "Il testo è troppo lungo.", "en": "The text is too long."},
    "cf_format": {
        "it": "Il codice fiscale ha 16 caratteri, lettere e cifre (ad esempio RSSMRA80A01H501U).",
        "en": "The codice fiscale has 16 characters, letters and digits (for example RSSMRA80A01H501U).",
    },
    "username_format": {
        "it": "Il nome utente è nella forma nome.cognome (ad esempio mario.rossi).",
        "en": "The username has the form name.surname (for example mario.rossi).",
    },
    "email_invalid": {
        "it": "Scrivi un indirizzo email valido (ad esempio nome@esempio.it).",
        "en": "Enter a valid email address (for example name@example.com).",
    },
    "institutional_address": {
        "it": "Gli indirizzi @istruzione.it sono assegnati dal Ministero e non si inseriscono qui: indica un "
        "indirizzo email personale.",
        "en": "@istruzione.it addresses are assigned by the Ministry and cannot be entered here: "
        "give a personal email address.",
    },
    "unchanged": {
        "it": "È già il tuo indirizzo email personale.",
        "en": "This is already your personal email address.",
    },
    "wrong_password": {
        "it": "La password attuale non è corretta.",
        "en": "The current password is not correct.",
    },
    "same_as_current": {
        "it": "La nuova password deve essere diversa da quella attuale.",
        "en": "The new password must differ from the current one.",
    },
    "temporary_password": {
        "it": "Non puoi usare una password temporanea come password definitiva: scegline una tua.",
        "en": "A temporary password cannot become your password: choose one of your own.",
    },
    "unknown_language": {"it": "Lingua non disponibile.", "en": "Language not available."},
    "query_format": {
        "it": "Scrivi il nome utente o il codice fiscale completo (almeno 3 caratteri).",
        "en": "Enter the full username or codice fiscale (at least 3 characters).",
    },
}


def language() -> str:
    return "en" if str(get_locale() or "it").startswith("en") else "it"


def message(code: str, *, min_length: int | None = None) -> str:
    """The message of a problem code in the current page language (Italian unless English is chosen)."""
    texts = MESSAGES.get(code)
    if texts is not None:
        return texts[language()]
    return registration_message(code, language(), min_length=min_length)


def messages(fields: dict[str, list[str]], *, min_length: int | None = None) -> dict[str, list[str]]:
    """{field: [codes]} as {field: [messages]} for the form macros."""
    return {name: [message(code, min_length=min_length) for code in codes] for name, codes in fields.items()}
