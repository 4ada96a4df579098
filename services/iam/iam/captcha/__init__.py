"""Captcha on registration and recoveries (issue 3 item 3): ALTCHA proof of work, reCAPTCHA, a test fake."""

from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    """The challenge endpoint and the app's adapter (once, whichever area asks first)."""
    from iam.captcha.views import register_captcha

    register_captcha(app)
