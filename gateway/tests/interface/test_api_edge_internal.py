"""Issue 11 item 7 and issue 13 item 7: ops APIs, the notifier's deliveries (recipients' addresses), metrics
and API documents are refused at the public edge; the services keep them on their internal addresses."""

import threading

import pytest
from gateway.api.connections import Origin
from gateway.api.proxy import public_location
from werkzeug.serving import make_server

from gateway import create_app


@pytest.fixture
def client(settings, upstream):
    # Both services on the echoing upstream: a refusal is the edge's, never a missing route.
    app = create_app({"GATEWAY_SERVICES": {"iam": upstream.url, "notifier": upstream.url}, **settings})
    return app.test_client()


INTERNAL = [
    "/api/iam/v1/ops/audit",
    "/api/iam//v1/ops/audit",  # the double slash that answered 308 with IAM's internal Location
    "/api/iam/v1/./ops/audit",
    "/api/iam/v1/x/../ops/audit",
    "/api/iam/v1/OPS/clients",
    "/api/notifier/v1/ops/parked",
    "/api/notifier/v1/deliveries",
    "/api/notifier/v1/deliveries/7f0c/resend",
    "/api/notifier//v1/deliveries",
    "/api/iam/metrics",
    "/api/iam/openapi.json",
    "/api/notifier/v1/openapi.json",
]


@pytest.mark.parametrize("path", INTERNAL)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_internal_only_apis_are_refused_at_the_edge_and_never_reach_the_service(client, path, method):
    response = client.open(path, method=method, data="{}", content_type="application/json")
    assert response.status_code == 404, path
    assert response.get_json()["error"]["code"] == "not_found"
    assert "X-Upstream" not in response.headers  # the service never saw it
    assert "Location" not in response.headers


@pytest.mark.parametrize("path", ["/api/iam/v1/me", "/api/notifier/v1/templates", "/api/iam/v1/opsx"])
def test_public_api_paths_still_reach_the_service(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["X-Upstream"] == "yes"
    assert response.get_json()["path"] == path


@pytest.fixture
def redirecting(settings):
    """A real service that redirects to its own internal address, as IAM's trailing-slash 308 did."""
    server = make_server("127.0.0.1", 0, lambda environ, start_response: redirect(environ, start_response))
    internal = f"http://127.0.0.1:{server.server_port}"

    def redirect(environ, start_response):
        start_response(
            "308 Permanent Redirect", [("Location", f"{internal}/api/iam/v1/me?x=1"), ("Content-Length", "0")]
        )
        return [b""]

    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield create_app({"GATEWAY_SERVICES": {"iam": internal}, **settings}).test_client(), internal
    finally:
        server.shutdown()


def test_a_redirect_to_the_services_internal_address_leaves_as_a_relative_one(redirecting):
    client, internal = redirecting
    response = client.get("/api/iam//v1/me")
    assert response.status_code == 308
    assert response.headers["Location"] == "/api/iam/v1/me?x=1"
    assert internal.removeprefix("http://") not in str(response.headers)


def test_only_the_services_own_address_is_rewritten():
    origin = Origin("127.0.0.1", 8101)
    assert public_location("http://127.0.0.1:8101/iam/accedi", origin) == "/iam/accedi"
    assert (
        public_location("https://partner.example.it/cb?code=1", origin)
        == "https://partner.example.it/cb?code=1"
    )
    assert public_location("http://127.0.0.1:8102/x", origin) == "http://127.0.0.1:8102/x"
    assert public_location("/already/relative", origin) == "/already/relative"
