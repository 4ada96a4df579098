"""The running app's captcha adapter (app.extensions[ADAPTER]), read by the areas that check a captcha."""

from __future__ import annotations

from flask import current_app

from iam.captcha.adapters import CaptchaAdapter

ADAPTER = "iam.captcha"  # app.extensions[ADAPTER], set by register_captcha


def current_adapter() -> CaptchaAdapter:
    adapter: CaptchaAdapter = current_app.extensions[ADAPTER]
    return adapter
