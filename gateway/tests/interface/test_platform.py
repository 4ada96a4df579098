"""Health, readiness and metrics."""


def test_healthz_says_the_process_is_alive(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_readyz_reports_each_service_without_failing_when_one_is_down(client):
    response = client.get("/readyz?services=1")
    assert response.status_code == 200
    assert response.get_json()["services"] == {"iam": "up", "istanze": "unreachable"}


def test_metrics_count_requests_by_route_and_upstream_errors_by_service(client):
    client.get("/")
    client.get("/api/istanze/x")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'gateway_requests_total{method="GET",route="/",status="200"}' in text
    assert 'gateway_upstream_errors_total{kind="unreachable",service="istanze"}' in text
