"""The clock of the revocation rounds: the real time, moved by a test-only offset file so that real-process
tests can let a deadline or a reminder's day pass (settings refuse the file outside POLIS_ENV=test)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

_offset_file: Path | None = None


def configure(settings: Mapping[str, Any]) -> None:
    global _offset_file
    name = settings.get("REVOCATION_CLOCK_FILE")
    _offset_file = Path(name) if name else None


def now() -> datetime:
    moment = datetime.now(UTC)
    if _offset_file is None:
        return moment
    try:
        return moment + timedelta(seconds=float(_offset_file.read_text().strip() or 0))
    except FileNotFoundError:
        return moment


def set_offset(path: str | Path, seconds: float) -> None:
    """Tests: move the clock of every process reading this file."""
    target = Path(path)
    temporary = target.with_suffix(".tmp")
    temporary.write_text(str(seconds))
    temporary.replace(target)  # atomic: a reader never sees an empty file
