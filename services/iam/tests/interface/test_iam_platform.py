"""The platform endpoints every service has, as IAM serves them: health, readiness, metrics, OpenAPI, 404."""

from flask.testing import FlaskClient


def test_unknown_routes_answer_404_in_the_json_error_shape(client: FlaskClient) -> None:
    response = client.get("/api/iam/v1/nothing-here")

    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_healthz_says_the_process_is_alive(client: FlaskClient) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "service": "iam", "version": "0.1.0"}


def test_readyz_is_503_while_the_broker_is_unreachable(client: FlaskClient) -> None:
    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.get_json()["checks"] == {"database": "ok", "broker": "unavailable"}


def test_metrics_count_the_requests_served(client: FlaskClient) -> None:
    client.get("/healthz")

    response = client.get("/metrics")

    assert response.status_code == 200
    assert 'http_requests_total{endpoint="/healthz",method="GET",service="iam",status="200"}' in response.text


def test_openapi_lists_the_endpoints(client: FlaskClient) -> None:
    paths = client.get("/openapi.json").get_json()["paths"]

    assert set(paths) >= {
        "/api/iam/v1/",
        "/api/iam/v1/email-confirmations",
        "/api/iam/v1/email-confirmations/confirm",
    }
    assert "202" in paths["/api/iam/v1/email-confirmations"]["post"]["responses"]
