"""What every Polis service answers whatever its domain (polis.service, polis.web), written once.

A service's tests subclass it with its name; its `client` fixture gives the app on a fresh database with
the broker on a closed port (polis.testing.apps.service_app):

    class TestIstanzePlatform(PlatformContract):
        SERVICE = "istanze"
"""

from __future__ import annotations

from typing import ClassVar

from flask.testing import FlaskClient


class PlatformContract:
    SERVICE = ""
    VERSION = "0.1.0"
    # /readyz's checks while the broker is unreachable: the platform's two, then the service's own.
    READINESS_WITHOUT_BROKER: ClassVar[dict[str, str]] = {"database": "ok", "broker": "unavailable"}

    @property
    def api_root(self) -> str:
        return f"/api/{self.SERVICE}/v1/"

    def test_the_api_root_names_the_service_and_its_version(self, client: FlaskClient) -> None:
        response = client.get(self.api_root)

        assert response.status_code == 200
        assert response.get_json() == {"service": self.SERVICE, "version": self.VERSION}

    def test_healthz_says_the_process_is_alive(self, client: FlaskClient) -> None:
        response = client.get("/healthz")

        assert response.status_code == 200
        assert response.get_json() == {"status": "ok", "service": self.SERVICE, "version": self.VERSION}

    def test_the_service_is_alive_but_not_ready_without_its_broker(self, client: FlaskClient) -> None:
        assert client.get("/healthz").status_code == 200
        readiness = client.get("/readyz")

        assert readiness.status_code == 503
        assert readiness.get_json()["checks"] == self.READINESS_WITHOUT_BROKER

    def test_an_unknown_route_answers_404_in_the_json_error_shape(self, client: FlaskClient) -> None:
        response = client.get(f"{self.api_root}no-such-thing")

        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "not_found"

    def test_metrics_count_the_requests_served(self, client: FlaskClient) -> None:
        client.get(self.api_root)

        text = client.get("/metrics").text

        assert f'service="{self.SERVICE}"' in text
        assert f'endpoint="{self.api_root}",method="GET",service="{self.SERVICE}",status="200"' in text

    def test_the_openapi_document_describes_the_api_root(self, client: FlaskClient) -> None:
        paths = client.get("/openapi.json").get_json()["paths"]

        assert paths[self.api_root]["get"]["summary"] == "Which service and version answers"
