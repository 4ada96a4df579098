"""Recovery: username forgotten (D-ACC-5) and "Password dimenticata?" with temporary passwords (D-ACC-6)."""

from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    """The API and its policy, then the pages (pages.py uses views.py; views.py never imports pages.py)."""
    from iam.recovery.pages import register_recovery_pages
    from iam.recovery.views import register_recovery

    register_recovery(app)
    register_recovery_pages(app)
