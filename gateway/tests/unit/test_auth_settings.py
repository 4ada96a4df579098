"""The portal's OpenID Connect settings: the client secret and the issuer have no default in production."""

import pytest
from gateway.config import load_settings
from polis.config import ConfigError

PRODUCTION = {
    "POLIS_ENV": "production",
    "GATEWAY_SECRET_KEY": "s",
    "GATEWAY_RATELIMIT_STORAGE": "redis://r:6379",
}


def test_dev_has_defaults_for_the_portal_client() -> None:
    settings = load_settings({"POLIS_ENV": "dev"})

    assert settings["GATEWAY_OIDC_CLIENT_ID"] == "portal"
    assert settings["GATEWAY_OIDC_CLIENT_SECRET"].reveal()
    assert settings["GATEWAY_OIDC_ISSUER"] == ""  # the request's own address


@pytest.mark.parametrize("missing", ["GATEWAY_OIDC_CLIENT_SECRET", "GATEWAY_OIDC_ISSUER"])
def test_production_requires_the_client_secret_and_the_issuer(missing: str) -> None:
    environ = {
        **PRODUCTION,
        "GATEWAY_OIDC_CLIENT_SECRET": "x",
        "GATEWAY_OIDC_ISSUER": "https://istanze.example/",
    }
    del environ[missing]

    with pytest.raises(ConfigError, match=missing):
        load_settings(environ)


def test_the_secret_is_never_shown() -> None:
    environ = {
        **PRODUCTION,
        "GATEWAY_OIDC_CLIENT_SECRET": "hunter2",
        "GATEWAY_OIDC_ISSUER": "https://x.example/",
    }
    settings = load_settings(environ)

    assert "hunter2" not in repr(settings["GATEWAY_OIDC_CLIENT_SECRET"])
    assert settings["GATEWAY_OIDC_ISSUER"] == "https://x.example"
