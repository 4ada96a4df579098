"""gateway/responses.py: a page's answer reaches the server as one body (a list), a streamed one as before."""

from __future__ import annotations

from typing import Any

from flask import Flask, stream_with_context
from gateway.responses import WholeBodyResponse


def _call(app: Flask, path: str, method: str = "GET") -> tuple[list[Any], Any]:
    started: list[Any] = []
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "wsgi.url_scheme": "http",
        "wsgi.input": None,
    }
    body = app.wsgi_app(environ, lambda status, headers, exc_info=None: started.append((status, headers)))
    return started, body


def _app() -> Flask:
    app = Flask(__name__)
    app.response_class = WholeBodyResponse
    closed: list[str] = []
    app.config["closed"] = closed

    @app.get("/page")
    def page() -> Any:
        response = app.make_response("<p>ciao</p>")
        response.call_on_close(lambda: closed.append("page"))
        return response

    @app.get("/stream")
    def stream() -> Any:
        return app.response_class(stream_with_context(iter([b"a", b"b"])))

    return app


def test_a_page_is_one_body_with_the_same_status_and_headers_and_is_closed():
    app = _app()
    started, body = _call(app, "/page")
    assert body == [b"<p>ciao</p>"]
    status, headers = started[0]
    assert status == "200 OK"
    assert ("Content-Length", "11") in headers and ("Content-Type", "text/html; charset=utf-8") in headers
    assert app.config["closed"] == ["page"]


def test_head_answers_the_headers_with_an_empty_body():
    started, body = _call(_app(), "/page", "HEAD")
    assert body == [b""] and ("Content-Length", "11") in started[0][1]


def test_a_streamed_body_stays_an_iterator():
    _started, body = _call(_app(), "/stream")
    assert not isinstance(body, list)
    assert b"".join(body) == b"ab"
    body.close()
