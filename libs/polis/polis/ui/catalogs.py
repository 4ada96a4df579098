"""Compiling gettext catalogs (.po -> .mo) without the pybabel command, for development and tests."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

log = logging.getLogger("polis.ui")


def compile_catalogs(directory: str | Path) -> list[Path]:
    """Compile every <lang>/LC_MESSAGES/*.po under `directory` whose .mo is missing or older; the .mo written.

    Each .mo is written to a temporary file and renamed, so processes starting together never read half a
    catalog. Fuzzy entries are left out, as `pybabel compile` does.
    """
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    written: list[Path] = []
    for po in sorted(Path(directory).glob("*/LC_MESSAGES/*.po")):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as source:
            catalog = read_po(source, locale=po.parent.parent.name)
        handle, temporary = tempfile.mkstemp(dir=po.parent, prefix=".messages-", suffix=".mo")
        try:
            with os.fdopen(handle, "wb") as target:
                write_mo(target, catalog)
            os.chmod(temporary, 0o644)  # mkstemp makes it private; a catalog is readable like its .po
            os.replace(temporary, mo)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        written.append(mo)
    return written


def prepare_catalogs(directory: str | Path, *, environment: str | None) -> None:
    """Compile stale catalogs in dev/test; elsewhere only warn about missing .mo files (pages fall back to
    the Italian msgids), since an installed package is read-only and its catalogs are compiled at build."""
    if environment in ("dev", "test"):
        compile_catalogs(directory)
        return
    missing = [po for po in Path(directory).glob("*/LC_MESSAGES/*.po") if not po.with_suffix(".mo").exists()]
    if missing:
        log.warning(
            "translations not compiled: pages will be in Italian only (run pybabel compile -d %s)", directory
        )
