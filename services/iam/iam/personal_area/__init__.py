"""Area Riservata: personal data, personal email change by verified link, password change (D-ACC-7/8)."""

from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    """The API and its policy, then the pages (pages.py uses views.py; views.py never imports pages.py)."""
    from iam.personal_area.pages import register_personal_area_pages
    from iam.personal_area.views import register_personal_area

    register_personal_area(app)
    register_personal_area_pages(app)
