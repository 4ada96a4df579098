"""The enablement scaffold through HTTP: its API root, health, readiness and OpenAPI document."""

from flask.testing import FlaskClient


def test_the_api_root_names_the_service_and_its_version(client: FlaskClient) -> None:
    response = client.get("/api/enablement/v1/")

    assert response.status_code == 200
    assert response.get_json() == {"service": "enablement", "version": "0.1.0"}


def test_the_openapi_document_describes_the_api_root(client: FlaskClient) -> None:
    operation = client.get("/openapi.json").get_json()["paths"]["/api/enablement/v1/"]["get"]

    assert operation["summary"] == "Which service and version answers"


def test_the_service_is_alive_but_not_ready_without_its_broker(client: FlaskClient) -> None:
    assert client.get("/healthz").status_code == 200
    readiness = client.get("/readyz")
    assert readiness.status_code == 503
    assert readiness.get_json()["checks"] == {"database": "ok", "broker": "unavailable"}
