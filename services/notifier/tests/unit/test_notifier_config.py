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
    monkeypatch.delenv("NOTIFIER_SEALING_PRIVATE_KEYS", raising=False)

    with pytest.raises(ConfigError, match="NOTIFIER_SEALING_PRIVATE_KEYS"):
        load_settings()
