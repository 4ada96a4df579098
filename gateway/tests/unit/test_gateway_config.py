"""Settings read from the environment."""

import pytest
from gateway.config import load_settings
from polis.config import ConfigError


def test_development_has_defaults_for_every_setting():
    settings = load_settings({"POLIS_ENV": "dev"})
    assert settings["GATEWAY_SERVICES"]["iam"] == "http://127.0.0.1:8101"
    assert settings["RATELIMIT_STORAGE_URI"] == "memory://"
    assert settings["SESSION_COOKIE_NAME"] == "polis_session"
    assert settings["POLIS_HELPDESK_PHONE"] == "080 9267603"
    assert settings["MAX_CONTENT_LENGTH"] == 1024 * 1024


def test_production_refuses_to_start_without_a_secret_key():
    with pytest.raises(ConfigError, match="GATEWAY_SECRET_KEY"):
        load_settings({"POLIS_ENV": "production", "GATEWAY_RATELIMIT_STORAGE": "redis://r:6379"})


def test_production_requires_a_shared_rate_limit_store():
    with pytest.raises(ConfigError, match="GATEWAY_RATELIMIT_STORAGE"):
        load_settings({"POLIS_ENV": "production", "GATEWAY_SECRET_KEY": "s"})


def test_production_uses_secure_host_prefixed_cookies():
    settings = load_settings(
        {
            "POLIS_ENV": "production",
            "GATEWAY_SECRET_KEY": "s",
            "GATEWAY_RATELIMIT_STORAGE": "redis://r:6379",
            "GATEWAY_OIDC_CLIENT_SECRET": "c",
            "GATEWAY_OIDC_ISSUER": "https://istanze.example",
        }
    )
    assert settings["SESSION_COOKIE_SECURE"] is True
    assert settings["SESSION_COOKIE_NAME"] == "__Host-polis"


def test_one_service_address_can_be_overridden():
    settings = load_settings({"POLIS_ENV": "dev", "GATEWAY_IAM_URL": "http://iam:8000/"})
    assert settings["GATEWAY_SERVICES"]["iam"] == "http://iam:8000"
    assert settings["GATEWAY_SERVICES"]["istanze"] == "http://127.0.0.1:8103"


def test_a_service_address_without_a_scheme_is_refused():
    with pytest.raises(ConfigError, match="iam"):
        load_settings({"POLIS_ENV": "dev", "GATEWAY_SERVICES": "iam=iam:8000"})


def test_the_refresh_store_is_memory_in_development_and_the_shared_redis_in_production():
    """Issue 5 item 5: refresh outcomes are shared by every gateway process in production."""
    assert load_settings({"POLIS_ENV": "dev"})["GATEWAY_SESSION_STORE"] == "memory://"
    production = {
        "POLIS_ENV": "production",
        "GATEWAY_SECRET_KEY": "s",
        "GATEWAY_OIDC_CLIENT_SECRET": "c",
        "GATEWAY_OIDC_ISSUER": "https://istanze.example.it",
    }
    redis = {**production, "GATEWAY_RATELIMIT_STORAGE": "redis://r:6379/0"}
    assert load_settings(redis)["GATEWAY_SESSION_STORE"] == "redis://r:6379/0"
    with pytest.raises(ConfigError, match="GATEWAY_SESSION_STORE"):
        load_settings({**production, "GATEWAY_RATELIMIT_STORAGE": "memcached://m:11211"})
    with pytest.raises(ConfigError, match="GATEWAY_SESSION_STORE"):
        load_settings({**redis, "GATEWAY_SESSION_STORE": "file:///tmp/x"})


def test_production_keeps_sessions_in_memory_only_for_a_single_worker():
    """The portal sessions live in the store (issue 11 item 6): per-process memory would split them."""
    production = {
        "POLIS_ENV": "production",
        "GATEWAY_SECRET_KEY": "s",
        "GATEWAY_OIDC_CLIENT_SECRET": "c",
        "GATEWAY_OIDC_ISSUER": "https://istanze.example.it",
        "GATEWAY_RATELIMIT_STORAGE": "redis://r:6379/0",
        "GATEWAY_SESSION_STORE": "memory://",
    }
    with pytest.raises(ConfigError, match="GATEWAY_WORKERS=1"):
        load_settings(production)
    assert load_settings({**production, "GATEWAY_WORKERS": "1"})["GATEWAY_SESSION_STORE"] == "memory://"
