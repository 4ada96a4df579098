"""The Italian the users read (issue 13 item 7): no wording that assumes the reader is a man ("Se non sei
stato tu", "Benvenuto", "sei abilitato"), and one term for the username ("nome utente", never "Username").

Scans every Italian page template, email template and catalogue of the services, the gateway and polis.ui:
what a person can see, whichever service renders it.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Second-person forms in the masculine (the reader's gender is unknown: neutral forms say the same).
MASCULINE = re.compile(
    r"\b(?:sei|sarai|eri|fossi)\s+(?:già\s+|ancora\s+|di\s+nuovo\s+|stato\s+)?"
    r"(?:stato|uscito|entrato|collegato|connesso|abilitato|registrato|identificato|sicuro|pronto|"
    r"autorizzato|obbligato|invitato|iscritto|arrivato|tornato)\b"
    r"|(?<!il )\bbenvenuto\b|\bessere\s+identificato\b|\bcaro\s+utente\b",
    re.IGNORECASE,
)
USERNAME = re.compile(r"\bUsername\b")


def italian_texts() -> list[tuple[Path, int, str]]:
    """(file, line number, line) of what Italian-speaking users read."""
    files: list[Path] = []
    for pattern in (
        "services/*/*/templates/**/*.html",
        "services/*/*/templates/**/*.txt",
        "gateway/gateway/templates/**/*.html",
        "gateway/gateway/*/templates/**/*.html",
        "libs/polis/polis/ui/templates/**/*.html",
    ):
        files.extend(path for path in ROOT.glob(pattern) if ".en." not in path.name)
    catalogues = [*ROOT.glob("services/*/*/translations/it/LC_MESSAGES/messages.po")]
    catalogues += [*ROOT.glob("gateway/gateway/translations/it/LC_MESSAGES/messages.po")]
    catalogues += [*ROOT.glob("libs/polis/polis/ui/translations/it/LC_MESSAGES/messages.po")]
    lines = []
    for path in files:
        lines += [(path, n, line) for n, line in enumerate(path.read_text().splitlines(), 1)]
    for path in catalogues:  # the msgids are the Italian source strings; obsolete entries (#~) do not count
        lines += [
            (path, n, line)
            for n, line in enumerate(path.read_text().splitlines(), 1)
            if not line.startswith("#")
        ]
    return lines


def test_the_scan_reads_the_pages_the_emails_and_the_catalogues() -> None:
    names = {path.name for path, _, _ in italian_texts()}
    assert {"login.html", "password_changed.it.txt", "messages.po", "layout.html"} <= names


def test_issue_13_no_italian_wording_assumes_the_reader_is_a_man() -> None:
    found = [
        f"{p.relative_to(ROOT)}:{n}: {line.strip()}"
        for p, n, line in italian_texts()
        if MASCULINE.search(line)
    ]
    assert found == [], "use a neutral form:\n" + "\n".join(found)


def test_issue_13_the_username_is_nome_utente_in_italian() -> None:
    found = [
        f"{p.relative_to(ROOT)}:{n}: {line.strip()}"
        for p, n, line in italian_texts()
        if USERNAME.search(line)
    ]
    assert found == [], "say «nome utente»:\n" + "\n".join(found)
