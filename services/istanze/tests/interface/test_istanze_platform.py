"""The istanze scaffold through HTTP: its API root, unknown routes, metrics and OpenAPI document."""

from flask.testing import FlaskClient


def test_the_api_root_names_the_service_and_its_version(client: FlaskClient) -> None:
    assert client.get("/api/istanze/v1/").get_json() == {"service": "istanze", "version": "0.1.0"}


def test_an_unknown_route_answers_404_in_the_json_error_shape(client: FlaskClient) -> None:
    response = client.get("/api/istanze/v1/no-such-thing")

    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_metrics_and_openapi_are_served(client: FlaskClient) -> None:
    client.get("/api/istanze/v1/")

    assert 'service="istanze"' in client.get("/metrics").text
    assert "/api/istanze/v1/" in client.get("/openapi.json").get_json()["paths"]
