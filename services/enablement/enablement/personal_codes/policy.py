"""The personal code policy (D-ENA-9) and the temporary code generator (CSPRNG, no look-alike characters)."""

from __future__ import annotations

import re
import secrets

# No 0/O/o, 1/l/I (D-ENA-9): what the user reads from an email is typed without ambiguity.
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789"
TEMPORARY_LENGTH = 10
ALPHANUMERIC = re.compile(r"^[A-Za-z0-9]+$")
MAX_LENGTH = 64
# Codes people pick first; checked case-insensitively, as are runs of one character and plain sequences.
COMMON = frozenset(
    {
        "password",
        "password1",
        "password123",
        "passw0rd",
        "qwerty",
        "qwerty123",
        "qwertyuiop",
        "abc12345",
        "abcd1234",
        "iloveyou",
        "admin123",
        "welcome1",
        "letmein1",
        "istruzione",
        "istanze1",
        "istanzeonline",
        "codicepersonale",
        "personale",
        "ciaociao",
        "juventus",
        "napoli123",
        "forzainter",
        "forzamilan",
    }
)
_SEQUENCES = ("0123456789", "abcdefghijklmnopqrstuvwxyz", "qwertyuiopasdfghjklzxcvbnm")


def generate_temporary() -> str:
    """A temporary personal code from the OS CSPRNG, with at least a letter and a digit."""
    while True:
        code = "".join(secrets.choice(ALPHABET) for _ in range(TEMPORARY_LENGTH))
        if any(c.isdigit() for c in code) and any(c.isalpha() for c in code):
            return code


def is_common(code: str) -> bool:
    lowered = code.lower()
    if lowered in COMMON or len(set(lowered)) <= 2:
        return True
    return any(lowered in sequence or lowered in sequence[::-1] for sequence in _SEQUENCES)


def problems(code: str, *, min_length: int) -> list[str]:
    """The problem codes of a proposed personal code that need no comparison with a stored secret."""
    if not code:
        return ["required"]
    found = []
    if not ALPHANUMERIC.match(code):
        found.append("code_not_alphanumeric")
    if len(code) < min_length:
        found.append("code_too_short")
    if len(code) > MAX_LENGTH:
        found.append("too_long")
    if not found and is_common(code):
        found.append("code_common")
    return found
