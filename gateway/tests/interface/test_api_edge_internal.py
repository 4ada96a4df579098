"""Issue 11 item 7 and issue 13 item 7: ops APIs, the notifier's deliveries (recipients' addresses), metrics
and API documents are refused at the public edge; the services keep them on their internal addresses."""

import pytest

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
