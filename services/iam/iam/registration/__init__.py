"""Self-registration step by step (D-ACC-3): codice fiscale + captcha, personal data, email, question..."""

from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    """The API and its policy, then the pages (pages.py uses views.py; views.py never imports pages.py)."""
    from iam.registration.pages import register_registration_pages
    from iam.registration.views import register_registration

    register_registration(app)
    register_registration_pages(app)
