"""Every string of IAM's pages is in both catalogs: Italian msgids, English translations (issue 3, item 12).

When this fails after adding strings, run the pybabel extract/update/compile commands of README.md
("Adding strings") and fill the English msgstr.
"""

from pathlib import Path

import iam
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po

PACKAGE = Path(iam.__file__).parent
KEYWORDS = {**DEFAULT_KEYWORDS, "lazy_gettext": None, "_l": None}


def _used_strings() -> set[str]:
    messages = extract_from_dir(
        str(PACKAGE), method_map=[("templates/**.html", "jinja2"), ("**.py", "python")], keywords=KEYWORDS
    )
    return {entry[2] if isinstance(entry[2], str) else entry[2][0] for entry in messages}


def test_every_page_string_has_an_english_translation_and_an_italian_entry() -> None:
    used = _used_strings()
    assert "Il tuo account" in used  # the extraction itself works (iam/templates/iam/index.html)
    for language in ("en", "it"):
        with (PACKAGE / "translations" / language / "LC_MESSAGES" / "messages.po").open("rb") as source:
            catalog = read_po(source)
        translated = {message.id if isinstance(message.id, str) else message.id[0] for message in catalog}
        if language == "en":
            translated = {
                message.id if isinstance(message.id, str) else message.id[0]
                for message in catalog
                if message.string and "fuzzy" not in message.flags
            }
        missing = sorted(used - translated)
        assert missing == [], f"{language}: add to iam/translations (README.md, Adding strings): {missing}"
