"""What the user reads for each registration problem code, in Italian and English (D-ACC-3)."""

from __future__ import annotations

from iam.passwords.policy import DEFAULT_MIN_LENGTH, PasswordProblem

MESSAGES: dict[str, dict[str, str]] = {
    "cf_syntax": {
        "it": "Il codice fiscale deve avere 16 caratteri: 6 lettere, 2 cifre, 1 lettera, 2 cifre, 1 lettera, "
        "3 cifre e 1 lettera finale (le cifre possono essere sostituite da lettere nei casi di omocodia).",
        "en": "The codice fiscale must have 16 characters: 6 letters, 2 digits, 1 letter, 2 digits, "
        "1 letter, "
        "3 digits and a final letter (digits may be replaced by letters in the case of omocodia).",
    },
    "cf_checksum": {
        "it": "Il codice fiscale non è corretto: l'ultimo carattere (di controllo) non corrisponde "
        "agli altri. "
        "Controlla di averlo scritto bene.",
        "en": "The codice fiscale is not correct: its last (check) character does not match the others. "
        "Check that you typed it correctly.",
    },
    "cf_invalid": {
        "it": "Il codice fiscale contiene una data di nascita o un codice del luogo di nascita "
        "che non esistono.",
        "en": "The codice fiscale holds a birth date or a birth place code that does not exist.",
    },
    "captcha_failed": {
        "it": "La verifica di sicurezza non è riuscita o è scaduta: ripetila.",
        "en": "The security check failed or has expired: please do it again.",
    },
    "last_name_mismatch": {
        "it": "Il cognome non corrisponde al codice fiscale (le prime tre lettere del codice).",
        "en": "The surname does not match the codice fiscale (the first three letters of the code).",
    },
    "first_name_mismatch": {
        "it": "Il nome non corrisponde al codice fiscale (lettere dalla quarta alla sesta del codice).",
        "en": "The first name does not match the codice fiscale (letters four to six of the code).",
    },
    "birth_date_mismatch": {
        "it": "La data di nascita non corrisponde al codice fiscale.",
        "en": "The date of birth does not match the codice fiscale.",
    },
    "sex_mismatch": {
        "it": "Il sesso indicato non corrisponde al codice fiscale.",
        "en": "The sex given does not match the codice fiscale.",
    },
    "birth_place_unknown": {
        "it": "Luogo di nascita non trovato: scrivi il nome del comune italiano (ad esempio «Roma» o "
        "«San Giovanni Rotondo (FG)») o dello Stato estero (ad esempio «Francia»).",
        "en": 'Place of birth not found: write the name of the Italian comune (e.g. "Roma" or '
        '"San Giovanni Rotondo (FG)") or of the foreign state (e.g. "Francia" or "France").',
    },
    "birth_place_mismatch": {
        "it": "Il luogo di nascita non corrisponde al codice fiscale.",
        "en": "The place of birth does not match the codice fiscale.",
    },
    "birth_date_future": {
        "it": "La data di nascita non può essere nel futuro.",
        "en": "The date of birth cannot be in the future.",
    },
    "institutional_email_refused": {
        "it": "Gli indirizzi @istruzione.it non si registrano qui: le utenze MI sono create dal Ministero. "
        "Indica un indirizzo email personale.",
        "en": "@istruzione.it addresses cannot register here: MI accounts are created by the Ministry. "
        "Give a personal email address.",
    },
    "emails_differ": {
        "it": "I due indirizzi email non coincidono.",
        "en": "The two email addresses differ.",
    },
    "answers_differ": {
        "it": "Le due risposte non coincidono (attenzione a maiuscole e minuscole).",
        "en": "The two answers differ (upper and lower case count).",
    },
    "consent_required": {
        "it": "Per completare la registrazione devi dare il consenso al trattamento dei dati.",
        "en": "To complete the registration you must consent to the processing of your data.",
    },
    "passwords_differ": {
        "it": "Le due password non coincidono.",
        "en": "The two passwords differ.",
    },
    "step_not_reached": {
        "it": "Completa prima i passi precedenti della registrazione.",
        "en": "Complete the previous registration steps first.",
    },
}


def message(code: str, language: str = "it", *, min_length: int | None = None) -> str:
    """The message of a registration or password problem code in `language` (it, en)."""
    if code in PasswordProblem.__members__.values():
        return PasswordProblem(code).message(language, min_length=min_length or DEFAULT_MIN_LENGTH)
    texts = MESSAGES.get(code)
    if texts is None:
        return code
    return texts["en" if language == "en" else "it"]
