"""Notifier settings: sealing keys are parsed from kid:base64 pairs and required in production."""

import pytest
from notifier.config import load_settings, parse_private_keys
from polis.config import ConfigError, Secret


def test_several_private_keys_may_be_configured_for_rotation() -> None:
    assert parse_private_keys(Secret("old:QUJD,new:REVG")) == {"old": "QUJD", "new": "REVG"}


def test_a_key_without_its_id_is_refused() -> None:
    with pytest.raises(ConfigError):
        parse_private_keys(Secret("QUJD"))


def test_production_refuses_to_start_without_the_private_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLIS_ENV", "production")
    monkeypatch.setenv("NOTIFIER_DATABASE_URL", "postgresql://db/notifier")
    monkeypatch.setenv("POLIS_BROKER_URL", "amqp://broker")
    monkeypatch.setenv("POLIS_OIDC_ISSUER", "https://istanze.example")
    monkeypatch.setenv("POLIS_OIDC_JWKS_URL", "http://iam:8101/oidc/jwks")
    monkeypatch.delenv("NOTIFIER_SEALING_PRIVATE_KEYS", raising=False)

    with pytest.raises(ConfigError, match="NOTIFIER_SEALING_PRIVATE_KEYS"):
        load_settings()


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("POLIS_ENV", "production")
    monkeypatch.setenv("NOTIFIER_DATABASE_URL", "postgresql://db/notifier")
    monkeypatch.setenv("POLIS_BROKER_URL", "amqp://broker")
    monkeypatch.setenv("NOTIFIER_SEALING_PRIVATE_KEYS", "k1:QUJD")
    monkeypatch.setenv("NOTIFIER_OPS_TOKEN", "a-real-token")
    monkeypatch.setenv("NOTIFIER_PUBLIC_BASE_URL", "https://istanze.example/")
    monkeypatch.setenv("POLIS_OIDC_ISSUER", "https://istanze.example")
    monkeypatch.setenv("POLIS_OIDC_JWKS_URL", "http://iam:8101/oidc/jwks")
    return monkeypatch


def test_issue_5_production_refuses_to_start_without_the_token_issuer(production: pytest.MonkeyPatch) -> None:
    production.delenv("POLIS_OIDC_ISSUER")

    with pytest.raises(ConfigError, match="POLIS_OIDC_ISSUER"):
        load_settings()


def test_production_refuses_to_start_without_the_ops_token(production: pytest.MonkeyPatch) -> None:
    production.delenv("NOTIFIER_OPS_TOKEN")

    with pytest.raises(ConfigError, match="NOTIFIER_OPS_TOKEN"):
        load_settings()


def test_production_refuses_an_smtp_login_without_its_password(production: pytest.MonkeyPatch) -> None:
    production.setenv("NOTIFIER_SMTP_USERNAME", "notifier")

    with pytest.raises(ConfigError, match="NOTIFIER_SMTP_PASSWORD"):
        load_settings()


def test_production_settings_load_with_the_secrets_given(production: pytest.MonkeyPatch) -> None:
    settings = load_settings()

    assert settings["OPS_TOKEN"].reveal() == "a-real-token"
    assert "a-real-token" not in repr(settings["OPS_TOKEN"])
    assert settings["PUBLIC_BASE_URL"] == "https://istanze.example"


def test_production_refuses_to_start_without_the_public_address_links_point_to(
    production: pytest.MonkeyPatch,
) -> None:
    production.delenv("NOTIFIER_PUBLIC_BASE_URL")

    with pytest.raises(ConfigError, match="NOTIFIER_PUBLIC_BASE_URL"):
        load_settings()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("NOTIFIER_SEND_RETRY_DELAYS", "10,5"),
        ("NOTIFIER_SMTP_CONNECTIONS", "0"),
        ("NOTIFIER_SMTP_SECURITY", "tls"),
    ],
)
def test_bad_sending_settings_are_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)

    with pytest.raises(ConfigError, match=name):
        load_settings()
