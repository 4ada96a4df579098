"""gateway-web's settings, and what it takes out of the WSGI environ that Granian fills from the process."""

import pytest
from gateway.api.proxy import target
from gateway.server import WithoutProcessEnvironment, server_settings


def test_the_settings_become_granians_arguments():
    settings = server_settings(
        {"GATEWAY_BIND": "127.0.0.1:9000", "GATEWAY_WORKERS": "3", "GATEWAY_THREADS": "12"}
    )
    assert settings["address"] == "127.0.0.1" and settings["port"] == 9000
    assert settings["workers"] == 3
    assert settings["blocking_threads"] == 12
    # Granian's backpressure counts accepted connections, idle ones too (granian#789): sized for traffic.
    assert settings["backpressure"] == 512
    assert settings["http1_settings"].header_read_timeout == 5000
    defaults = server_settings({})
    assert (defaults["address"], defaults["port"]) == ("0.0.0.0", 8080)  # noqa: S104
    assert server_settings({"GATEWAY_BIND": "[::]:8443"})["address"] == "::"


def test_the_process_environment_never_reaches_the_app_as_part_of_a_request():
    seen = {}

    def app(environ, start_response):
        seen.update(environ)
        return [b""]

    inherited = {"GATEWAY_SECRET_KEY": "s3cret", "HTTP_PROXY": "http://proxy.example:3128"}
    wrapped = WithoutProcessEnvironment(app, inherited)
    wrapped({**inherited, "REQUEST_METHOD": "GET", "PATH_INFO": "/"}, lambda *a: None)
    assert "GATEWAY_SECRET_KEY" not in seen
    assert "HTTP_PROXY" not in seen  # it would pass for a "Proxy" header the browser sent
    assert seen["REQUEST_METHOD"] == "GET"

    seen.clear()
    wrapped({**inherited, "HTTP_PROXY": "sent-by-the-browser"}, lambda *a: None)
    assert seen["HTTP_PROXY"] == "sent-by-the-browser"  # the request's own header is the request's


def test_a_path_without_the_raw_uri_is_encoded_back_to_the_bytes_the_browser_sent():
    # PEP 3333: PATH_INFO carries the decoded bytes as latin-1 characters ("città" in UTF-8 below).
    environ = {"PATH_INFO": "/api/iam/citt\u00c3\u00a0 x", "QUERY_STRING": "q=%C3%A8"}
    assert target(environ) == "/api/iam/citt%C3%A0%20x?q=%C3%A8"
    assert target({**environ, "RAW_URI": "/api/iam/citt%C3%A0%20x?q=%C3%A8"}) == (
        "/api/iam/citt%C3%A0%20x?q=%C3%A8"
    )


def test_the_accepted_connections_and_the_header_timeout_are_configurable():
    settings = server_settings(
        {"GATEWAY_BIND": "127.0.0.1:9000", "GATEWAY_MAX_CONNECTIONS": "2000", "GATEWAY_HEADER_TIMEOUT": "2.5"}
    )
    assert settings["backpressure"] == 2000
    assert settings["backlog"] == 4000
    assert settings["http1_settings"].header_read_timeout == 2500


@pytest.mark.parametrize(
    "environ",
    [{"GATEWAY_MAX_CONNECTIONS": "4"}, {"GATEWAY_HEADER_TIMEOUT": "0"}, {"GATEWAY_HEADER_TIMEOUT": "61"}],
)
def test_connections_below_the_threads_or_a_header_timeout_out_of_range_are_refused(environ):
    with pytest.raises(ValueError):
        server_settings({"GATEWAY_BIND": "127.0.0.1:9000", **environ})
