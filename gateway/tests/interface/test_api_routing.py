"""/api/<service>/... through the gateway to a real upstream HTTP server."""

import json

import pytest
from flask import request

TRACE_MARKERS = ("Traceback", 'File "', "urllib3", "HTTPConnectionPool")


def test_a_get_reaches_the_service_with_its_path_and_query_string(client):
    response = client.get("/api/iam/accounts/42?expand=emails&x=%C3%A8")
    echoed = response.get_json()
    assert response.status_code == 200
    assert echoed["method"] == "GET"
    assert echoed["path"] == "/api/iam/accounts/42"
    assert echoed["query"] == "expand=emails&x=%C3%A8"
    assert response.headers["X-Upstream"] == "yes"


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_a_json_body_is_forwarded_unchanged_for_every_unsafe_method(client, method):
    body = '{"name": "Maria",  "n": 1}'
    response = client.open("/api/iam/things", method=method, data=body, content_type="application/json")
    echoed = response.get_json()
    assert echoed["method"] == method
    assert echoed["body"] == body
    assert echoed["headers"]["Content-Type"] == "application/json"


def test_the_service_receives_the_edge_request_id_and_never_the_callers(client):
    response = client.get("/api/iam/me", headers={"X-Request-ID": "forged-by-the-caller"})
    sent = response.get_json()["headers"]["X-Request-Id"]
    assert sent != "forged-by-the-caller"
    assert len(sent) == 32
    assert response.headers["X-Request-ID"] == sent


def test_authorization_and_forwarding_headers_reach_the_service_but_not_cookies_or_forged_addresses(client):
    client.set_cookie("polis_session", "secret-session")
    response = client.get(
        "/api/iam/me",
        headers={
            "Authorization": "Bearer abc",
            "X-Forwarded-For": "6.6.6.6",
            "Connection": "close, X-Drop",
            "X-Drop": "1",
        },
    )
    headers = response.get_json()["headers"]
    assert headers["Authorization"] == "Bearer abc"
    assert headers["X-Forwarded-For"] == "127.0.0.1"
    assert headers["X-Forwarded-Proto"] == "http"
    assert "Cookie" not in headers
    assert "X-Drop" not in headers


def test_the_service_status_and_headers_come_back_without_hop_by_hop_or_cors_headers(client):
    response = client.post("/api/iam/created", json={})
    assert response.status_code == 201
    assert response.headers["Location"] == "/api/iam/things/1"
    assert "Access-Control-Allow-Origin" not in response.headers
    assert response.headers.get("Connection") is None


def test_an_unknown_service_is_a_json_404(client):
    response = client.get("/api/nobody/things")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_an_unknown_api_route_is_a_json_404_and_an_unknown_page_is_an_html_404(client):
    api = client.get("/api/")
    page = client.get("/no-such-page")
    assert api.status_code == 404 and api.get_json()["error"]["code"] == "not_found"
    assert page.status_code == 404 and page.mimetype == "text/html"
    assert "080 9267603" in page.get_data(as_text=True)


def test_a_service_that_is_down_is_a_503_in_the_error_shape_without_a_stack_trace(client):
    response = client.post("/api/istanze/drafts", json={"a": 1})
    body = response.get_data(as_text=True)
    assert response.status_code == 503
    assert json.loads(body) == {
        "error": {
            "code": "service_unavailable",
            "message": json.loads(body)["error"]["message"],
            "fields": {},
        }
    }
    assert not any(marker in body for marker in TRACE_MARKERS)


def test_a_service_that_answers_too_late_is_a_504(client):
    response = client.get("/api/iam/slow")
    assert response.status_code == 504
    assert response.get_json()["error"]["code"] == "service_unavailable"


def test_an_unsafe_method_without_json_content_type_is_refused_with_415(client):
    response = client.post("/api/iam/things", data="name=x", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert response.get_json()["error"]["code"] == "unsupported_media_type"


def test_malformed_json_is_refused_at_the_edge(client):
    response = client.post("/api/iam/things", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "malformed_json"


def test_a_body_over_the_limit_is_refused_with_413(client):
    response = client.post(
        "/api/iam/things", data="[" + "1," * 600_000 + "1]", content_type="application/json"
    )
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "payload_too_large"


def test_a_json_api_post_needs_no_csrf_token(client):
    assert client.post("/api/iam/things", json={"a": 1}).status_code == 200


def test_the_json_api_opens_no_session_while_pages_do(app):
    with app.test_request_context("/api/iam/v1/things"):
        assert app.session_interface.open_session(app, request) is None
    with app.test_request_context("/"):
        assert app.session_interface.open_session(app, request) is not None


def test_api_answers_carry_the_security_headers(client):
    response = client.get("/api/iam/accounts/1")
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_an_address_over_the_api_limit_gets_429_in_the_error_shape(settings, upstream):
    from gateway import create_app

    app = create_app(
        {"GATEWAY_SERVICES": {"iam": upstream.url}, "RATELIMIT_DEFAULT": "2 per minute", **settings}
    )
    client = app.test_client()
    answers = [client.get("/api/iam/x") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].get_json()["error"]["code"] == "too_many_requests"
    assert int(answers[2].headers["Retry-After"]) >= 1


def test_a_path_without_a_service_is_a_json_404(client):
    response = client.get("/api/iam")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_api_calls_that_take_credentials_have_the_stricter_per_address_limit(settings, upstream):
    from gateway import create_app

    limits = {"RATELIMIT_AUTHENTICATION": "2 per minute", "RATELIMIT_DEFAULT": "100 per minute"}
    app = create_app({"GATEWAY_SERVICES": {"iam": upstream.url}, **limits, **settings})
    client = app.test_client()
    recovery = [client.post("/api/iam/v1/recovery/password", json={}).status_code for _ in range(3)]
    assert recovery == [200, 200, 429]
    # Other calls from the same address only count against the general limit.
    assert client.post("/api/iam/v1/other", json={}).status_code == 200
