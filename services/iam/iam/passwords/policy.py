"""The password policy (issue 3 item 4, NIST SP 800-63B Rev 4): length, blocklist, zxcvbn, personal data.

No composition rules and no expiry: a long passphrase is the best password. `check_password` returns the
problems found (empty: accepted); each problem is a code (a `str`) that also knows its message in it/en.
"""

from __future__ import annotations

import enum
import functools
import gzip
import unicodedata
from importlib import resources

from flask import current_app, has_app_context

DEFAULT_MIN_LENGTH = 15  # NIST SP 800-63B Rev 4 for a password used as the single factor
MAX_LENGTH = 128  # at least 64 must be allowed; more only costs hashing time
DEFAULT_MIN_SCORE = 3  # zxcvbn score 0..4: 3 is "safely unguessable" (~10^8 guesses, online throttled)
# Parts of names shorter than this are not searched for: "Al" or "Li" would refuse half of all passwords.
MIN_PERSONAL_PART = 3
BLOCKLIST_FILE = "common-passwords.txt.gz"


class PasswordProblem(enum.StrEnum):
    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    COMMON = "common"
    GUESSABLE = "guessable"
    CONTAINS_PERSONAL_DATA = "contains_personal_data"

    def message(self, language: str = "it", *, min_length: int = DEFAULT_MIN_LENGTH) -> str:
        """The user-facing message in `language` (it or en; anything else falls back to Italian)."""
        text = _MESSAGES[self]["en" if language == "en" else "it"]
        return text.format(min_length=min_length, max_length=MAX_LENGTH)


_MESSAGES: dict[PasswordProblem, dict[str, str]] = {
    PasswordProblem.TOO_SHORT: {
        "it": "La password deve avere almeno {min_length} caratteri: prova una frase di alcune parole.",
        "en": "The password must have at least {min_length} characters: try a phrase of a few words.",
    },
    PasswordProblem.TOO_LONG: {
        "it": "La password può avere al massimo {max_length} caratteri.",
        "en": "The password can have at most {max_length} characters.",
    },
    PasswordProblem.COMMON: {
        "it": "Questa password è tra le più usate e verrebbe indovinata subito: scegline un'altra.",
        "en": "This password is among the most used ones and would be guessed at once: choose another.",
    },
    PasswordProblem.GUESSABLE: {
        "it": "Questa password è troppo facile da indovinare: usa più parole, non collegate tra loro.",
        "en": "This password is too easy to guess: use more words that have nothing to do with each other.",
    },
    PasswordProblem.CONTAINS_PERSONAL_DATA: {
        "it": "La password non deve contenere il tuo username, il tuo nome o cognome o il codice fiscale.",
        "en": "The password must not contain your username, your first or last name or your codice fiscale.",
    },
}


def check_password(
    password: str,
    *,
    username: str | None,
    first_name: str | None,
    last_name: str | None,
    codice_fiscale: str | None,
    min_length: int | None = None,
    min_score: int | None = None,
) -> list[PasswordProblem]:
    """The problems of `password` for this person (empty when it is acceptable).

    `min_length`/`min_score` default to the settings IAM_PASSWORD_MIN_LENGTH/IAM_PASSWORD_MIN_SCORE of the
    current app (15 and 3 outside an app).
    """
    min_length = min_length if min_length is not None else _setting("PASSWORD_MIN_LENGTH", DEFAULT_MIN_LENGTH)
    min_score = min_score if min_score is not None else _setting("PASSWORD_MIN_SCORE", DEFAULT_MIN_SCORE)
    problems: list[PasswordProblem] = []
    # Length in Unicode code points after NFC, so "è" typed either way counts once (NIST: normalise).
    normalised = unicodedata.normalize("NFC", password)
    if len(normalised) < min_length:
        problems.append(PasswordProblem.TOO_SHORT)
    if len(normalised) > MAX_LENGTH:
        # Nothing else is computed on an over-long input: zxcvbn's cost grows with the length.
        return [PasswordProblem.TOO_LONG]
    if _is_common(normalised):
        problems.append(PasswordProblem.COMMON)
    personal = _personal_parts(username, first_name, last_name, codice_fiscale)
    folded = _fold(normalised)
    if any(part in folded for part in personal):
        problems.append(PasswordProblem.CONTAINS_PERSONAL_DATA)
    if PasswordProblem.COMMON not in problems and _score(normalised, personal) < min_score:
        problems.append(PasswordProblem.GUESSABLE)
    return problems


def messages(
    problems: list[PasswordProblem], language: str = "it", *, min_length: int | None = None
) -> list[str]:
    """The messages of several problems, in order."""
    length = min_length if min_length is not None else _setting("PASSWORD_MIN_LENGTH", DEFAULT_MIN_LENGTH)
    return [problem.message(language, min_length=length) for problem in problems]


def _setting(name: str, default: int) -> int:
    if has_app_context():
        return int(current_app.config.get(name, default))
    return default


def _fold(text: str) -> str:
    """Lower case without accents or spacing: "Niccolò D'Amico" -> "niccolodamico"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch) and ch.isalnum())


def _personal_parts(*values: str | None) -> list[str]:
    parts: set[str] = set()
    for value in values:
        if not value:
            continue
        whole = _fold(value)
        if len(whole) >= MIN_PERSONAL_PART:
            parts.add(whole)
        # "Maria Grazia", "De Luca", "mario.rossi1": each word counts on its own too.
        for word in value.replace(".", " ").replace("'", " ").replace("-", " ").split():
            folded = _fold(word)
            if len(folded) >= MIN_PERSONAL_PART and not folded.isdigit():
                parts.add(folded)
    return sorted(parts)


@functools.cache
def blocklist() -> frozenset[str]:
    """The bundled list of the most common passwords (lower case); see blocklist_source.py for its source."""
    data = resources.files("iam.passwords").joinpath("data", BLOCKLIST_FILE).read_bytes()
    return frozenset(line.strip().lower() for line in gzip.decompress(data).decode().splitlines() if line)


def _is_common(password: str) -> bool:
    lowered = password.casefold()
    words = blocklist()
    # "password password" or "Password123 " are the same common password.
    return lowered in words or "".join(lowered.split()) in words or lowered.strip() in words


def _score(password: str, personal: list[str]) -> int:
    from zxcvbn import zxcvbn  # imported on use: its dictionaries take a moment to load

    return int(zxcvbn(password, user_inputs=personal)["score"])
