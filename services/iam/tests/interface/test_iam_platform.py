"""The platform endpoints every service has, as IAM has them (polis.testing.platform_contract); and its own:
readiness with the signing key, the OpenAPI document's IAM paths."""

from typing import ClassVar

from flask import Flask
from flask.testing import FlaskClient
from iam import create_app
from iam.extensions import db
from iam.keys import service as keys
from polis.testing.platform_contract import PlatformContract


def conftest_settings(database_url: str) -> dict[str, str]:
    """The settings of conftest's app: this database, a broker on a closed port."""
    return {"DATABASE_URL": database_url, "BROKER_URL": "amqp://guest:guest@127.0.0.1:9/%2F"}


class TestIamPlatform(PlatformContract):
    SERVICE = "iam"
    READINESS_WITHOUT_BROKER: ClassVar[dict[str, str]] = {
        "database": "ok",
        "broker": "unavailable",
        "signing_key": "ok",
    }


def test_issue_17_readyz_is_503_when_the_signing_key_does_not_open_with_this_processs_kek(
    app: Flask, database_url: str
) -> None:
    with app.app_context():
        keys.active_key(db, keys.ALG)  # the first key, sealed with the development KEK
    keys.forget_active()
    other_kek = "b3RoZXIta2V5LWVuY3J5cHRpb24ta2V5LTMyLWJ5dGU"
    misconfigured = create_app(
        {**conftest_settings(database_url), "KEY_ENCRYPTION_KEY": other_kek}
    ).test_client()

    try:
        response = misconfigured.get("/readyz")
    finally:
        keys.forget_active()
        keys.configure(keys.KeySettings.from_config(app.config))  # the fixture's app again

    assert response.status_code == 503
    assert response.get_json()["checks"]["signing_key"] == "unavailable"
    assert other_kek not in response.get_data(as_text=True)


def test_openapi_lists_the_endpoints(client: FlaskClient) -> None:
    paths = client.get("/openapi.json").get_json()["paths"]

    assert set(paths) >= {
        "/api/iam/v1/",
        "/api/iam/v1/registrations",
        "/api/iam/v1/recovery/password",
    }
    assert "201" in paths["/api/iam/v1/registrations"]["post"]["responses"]
