"""The web platform: request ids, the JSON error shape for every kind of bad input, health and OpenAPI."""

import json
import logging

import pytest
from flask import Flask, jsonify
from marshmallow import fields
from polis import requestid
from polis.errors import NotFound
from polis.logging import JsonFormatter
from polis.web import ApiSchema, UtcDateTime, api_doc, json_body, load, register_platform


class GreetingSchema(ApiSchema):
    name = fields.String(required=True)


def make_app(readiness=None):
    app = Flask("platform-test")
    app.config["MAX_CONTENT_LENGTH"] = 256
    register_platform(app, service="demo", version="1.2.3", readiness=readiness or {})

    @app.post("/api/demo/greetings")
    @api_doc("Greet someone", request=GreetingSchema, response=GreetingSchema, status=201, errors=(400,))
    def greet():
        data = load(GreetingSchema(), json_body())
        return jsonify(name=data["name"], request_id=requestid.current_request_id()), 201

    @app.get("/api/demo/things/<thing_id>")
    @api_doc("A thing", errors=(404,))
    def thing(thing_id):
        raise NotFound("No such thing.")

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals /etc/passwd")

    return app


@pytest.fixture
def client():
    return make_app().test_client()


def assert_error_shape(response, status, code):
    assert response.status_code == status
    body = response.get_json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "fields"}
    assert body["error"]["code"] == code
    return body["error"]


def test_a_valid_request_succeeds_and_carries_a_request_id(client):
    response = client.post("/api/demo/greetings", json={"name": "Maria"})
    assert response.status_code == 201
    assert response.get_json()["name"] == "Maria"
    assert requestid.is_valid(response.headers["X-Request-ID"])
    assert response.get_json()["request_id"] == response.headers["X-Request-ID"]


def test_api_answers_are_never_stored_by_a_browser_or_a_proxy(client):
    # They carry personal data, secrets shown once, tokens; errors too. Pages decide for themselves.
    assert client.post("/api/demo/greetings", json={"name": "Maria"}).headers["Cache-Control"] == "no-store"
    assert client.get("/api/demo/things/1").headers["Cache-Control"] == "no-store"
    assert "no-store" not in client.get("/healthz").headers.get("Cache-Control", "")


def test_a_request_id_from_the_gateway_is_adopted(client):
    response = client.post(
        "/api/demo/greetings", json={"name": "x"}, headers={"X-Request-ID": "abc123def456"}
    )
    assert response.headers["X-Request-ID"] == "abc123def456"


def test_a_request_id_that_could_inject_into_logs_is_replaced(client):
    response = client.post("/api/demo/greetings", json={"name": "x"}, headers={"X-Request-ID": "a b {c}"})
    assert response.headers["X-Request-ID"] != "a b {c}"
    assert requestid.is_valid(response.headers["X-Request-ID"])


def test_malformed_json_is_a_400_with_the_error_shape(client):
    response = client.post("/api/demo/greetings", data="{not json", content_type="application/json")
    assert_error_shape(response, 400, "malformed_json")


def test_unknown_fields_are_refused_by_name(client):
    response = client.post("/api/demo/greetings", json={"name": "x", "admin": True, "zeta": 1})
    error = assert_error_shape(response, 400, "validation_failed")
    assert set(error["fields"]) == {"admin", "zeta"}
    assert "admin" in error["message"] and "zeta" in error["message"]


def test_missing_fields_are_named(client):
    error = assert_error_shape(client.post("/api/demo/greetings", json={}), 400, "validation_failed")
    assert "name" in error["fields"]


def test_a_body_that_is_not_json_is_refused_with_415(client):
    response = client.post(
        "/api/demo/greetings", data="name=x", content_type="application/x-www-form-urlencoded"
    )
    assert_error_shape(response, 415, "unsupported_media_type")


def test_an_oversized_body_is_refused_with_413(client):
    response = client.post("/api/demo/greetings", json={"name": "x" * 1000})
    assert_error_shape(response, 413, "payload_too_large")


def test_unknown_routes_and_methods_answer_in_the_error_shape(client):
    assert_error_shape(client.get("/api/demo/nowhere"), 404, "not_found")
    response = client.delete("/api/demo/greetings")
    assert_error_shape(response, 405, "method_not_allowed")
    assert "POST" in response.headers["Allow"]


def test_an_api_error_keeps_its_message(client):
    assert (
        assert_error_shape(client.get("/api/demo/things/7"), 404, "not_found")["message"] == "No such thing."
    )


def test_an_unexpected_error_never_shows_a_stack_trace(client, caplog):
    with caplog.at_level(logging.ERROR):
        response = client.get("/boom")
    error = assert_error_shape(response, 500, "internal_error")
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and "passwd" not in text and "RuntimeError" not in text
    assert error["message"]
    assert any("unhandled error" in record.getMessage() for record in caplog.records)


def test_health_is_alive_without_dependencies(client):
    assert client.get("/healthz").get_json() == {"status": "ok", "service": "demo", "version": "1.2.3"}


def test_readiness_reports_each_dependency_and_fails_when_one_is_down():
    def broken():
        raise ConnectionError("refused")

    client = make_app({"database": lambda: None, "broker": broken}).test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"] == {"database": "ok", "broker": "unavailable"}
    assert make_app({"database": lambda: None}).test_client().get("/readyz").status_code == 200


def test_metrics_are_exposed_for_prometheus(client):
    client.post("/api/demo/greetings", json={"name": "x"})
    text = client.get("/metrics").get_data(as_text=True)
    assert (
        'http_requests_total{endpoint="/api/demo/greetings",method="POST",service="demo",status="201"}'
        in text
    )


def test_every_request_has_one_access_line_with_its_request_id_and_status(client, caplog):
    with caplog.at_level(logging.INFO, logger="polis.access"):
        ok = client.post("/api/demo/greetings", json={"name": "x"})
        client.get("/api/demo/citt%C3%A0")
        client.get("/boom")
    lines = [record for record in caplog.records if record.name == "polis.access"]
    assert [(line.method, line.path, line.status) for line in lines] == [
        ("POST", "/api/demo/greetings", 201),
        ("GET", "/api/demo/città", 404),  # the path as decoded text, as the request had it
        ("GET", "/boom", 500),
    ]
    assert lines[0].request_id == ok.headers["X-Request-ID"]
    assert all(requestid.is_valid(line.request_id) for line in lines)
    assert requestid.current_request_id() is None  # nothing outlives its request


def test_metrics_name_the_route_not_the_path(client):
    client.get("/api/demo/things/41")
    client.get("/api/demo/no/such/route")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'endpoint="/api/demo/things/<thing_id>",method="GET",service="demo",status="404"' in text
    assert 'endpoint="unmatched",method="GET",service="demo",status="404"' in text
    assert "/api/demo/things/41" not in text and "/no/such/route" not in text


def test_the_openapi_document_describes_the_documented_operations(client):
    document = client.get("/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    operation = document["paths"]["/api/demo/greetings"]["post"]
    assert operation["summary"] == "Greet someone"
    assert "201" in operation["responses"] and "400" in operation["responses"]
    assert "requestBody" in operation
    assert document["paths"]["/api/demo/things/{thing_id}"]["get"]["parameters"][0]["name"] == "thing_id"
    assert "Error" in document["components"]["schemas"]


def test_log_lines_are_json_with_the_current_request_id():
    formatter = JsonFormatter("demo")
    record = logging.makeLogRecord({"name": "t", "levelname": "INFO", "msg": "hello %s", "args": ("you",)})
    with requestid.bind("req-12345678"):
        line = json.loads(formatter.format(record))
    assert line["message"] == "hello you"
    assert line["request_id"] == "req-12345678"
    assert line["service"] == "demo"


def test_configured_logging_writes_every_line_as_json_with_the_request_id_of_the_logging_thread():
    import subprocess
    import sys

    program = (
        "import logging\n"
        "from polis.logging import configure_logging\n"
        "from polis import requestid\n"
        "configure_logging('demo')\n"
        "for n in range(200):\n"
        "    with requestid.bind(f'req-{n:08d}'):\n"
        "        logging.getLogger('t').info('line %d', n)\n"
    )
    out = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True).stdout
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["message"] for line in lines] == [f"line {n}" for n in range(200)]  # none lost at exit
    assert all(line["request_id"] == f"req-{n:08d}" for n, line in enumerate(lines))


def test_logging_configured_twice_exits_cleanly_and_keeps_every_line():
    import subprocess
    import sys

    program = (
        "import logging\n"
        "from polis.logging import configure_logging\n"
        "configure_logging('first')\n"
        "logging.getLogger('t').info('one')\n"
        "configure_logging('second')\n"
        "logging.getLogger('t').info('two')\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    assert [json.loads(line)["message"] for line in done.stdout.splitlines()] == ["one", "two"]
    assert done.stderr == ""


def test_a_naive_utc_datetime_is_dumped_with_its_offset_and_an_aware_one_in_utc():
    """OpenAPI's date-time needs an offset; SQLite gives the stored UTC times back naive (issue 17)."""
    from datetime import UTC, datetime, timedelta, timezone

    class When(ApiSchema):
        at = UtcDateTime(allow_none=True)

    rome = timezone(timedelta(hours=1))
    assert When().dump({"at": datetime(2026, 12, 2, 8, 8, 59, 152700)}) == {
        "at": "2026-12-02T08:08:59.152700+00:00"
    }
    assert When().dump({"at": datetime(2026, 12, 2, 9, 0, tzinfo=rome)}) == {
        "at": "2026-12-02T09:00:00+01:00"
    }
    assert When().dump({"at": None}) == {"at": None}
    assert (
        datetime.fromisoformat(When().dump({"at": datetime(2026, 1, 1, tzinfo=UTC)})["at"]).tzinfo is not None
    )
