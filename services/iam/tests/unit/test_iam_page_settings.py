"""Settings of IAM's pages: the iam_session cookie's flags and the secret key outside dev/test."""

import pytest
from iam.config import _page_settings
from polis.config import ConfigError, Env


def test_outside_dev_and_test_the_session_cookie_is_secure_and_the_key_is_required() -> None:
    settings = _page_settings(Env({"POLIS_ENV": "production", "IAM_SECRET_KEY": "k" * 32}))

    assert settings["SESSION_COOKIE_NAME"] == "__Host-iam_session"  # issue 11 item 6
    assert settings["SESSION_COOKIE_PATH"] == "/"
    assert settings["SESSION_COOKIE_SECURE"] is True
    assert settings["SESSION_COOKIE_HTTPONLY"] is True and settings["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert settings["SECRET_KEY"] == "k" * 32
    with pytest.raises(ConfigError):
        _page_settings(Env({"POLIS_ENV": "production"}))


def test_in_development_the_cookie_works_over_plain_http_with_a_development_key() -> None:
    settings = _page_settings(Env({"POLIS_ENV": "dev"}))

    assert settings["SESSION_COOKIE_SECURE"] is False and settings["SECRET_KEY"]
    assert settings["SESSION_COOKIE_NAME"] == "iam_session"  # __Host- needs Secure: not over plain http


def test_the_helpdesk_contact_is_configurable_per_language() -> None:
    # D-ACC-9: shown on error and recovery pages, never hard-coded.
    settings = _page_settings(
        Env({"POLIS_ENV": "dev", "POLIS_HELPDESK_PHONE": "06 000", "POLIS_HELPDESK_HOURS_EN": "Mondays"})
    )

    assert settings["POLIS_HELPDESK_PHONE"] == "06 000"
    assert settings["POLIS_HELPDESK_HOURS"]["en"] == "Mondays"
