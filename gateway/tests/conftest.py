"""Shared fixtures: compiled catalogs, a gateway app in test settings, and a real upstream service."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Self

import pytest
from iam_double import FakeIam
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from gateway import create_app

TRANSLATIONS = Path(__file__).parents[1] / "gateway" / "translations"


def pytest_sessionstart(session: pytest.Session) -> None:
    # The install step compiles the catalogs; a fresh checkout running only the tests needs them too.
    if not all((d / "LC_MESSAGES" / "messages.mo").exists() for d in TRANSLATIONS.iterdir()):
        subprocess.run(
            [sys.executable, "-m", "babel.messages.frontend", "compile", "-d", str(TRANSLATIONS)], check=True
        )


class Upstream:
    """A real HTTP server standing in for a service: it echoes what it received as JSON."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @Request.application
    def app(self, request: Request) -> Response:
        if request.path.endswith("/slow"):
            # Held until the test ends: longer than the gateway's read timeout, without a fixed sleep.
            self.release.wait(10)
        if request.path.endswith("/cookies"):
            response = Response("<p>IAM</p>", content_type="text/html")
            response.set_cookie("iam_sso", "opaque", httponly=True)
            response.set_cookie("polis_session", "forged-by-a-service")
            return response
        if request.path.endswith("/layout"):  # a page of the shared layout (its account part marked)
            lang = request.args.get("lang", "it")
            return Response(
                f'<!doctype html><html lang="{lang}"><header><!--polis:account-->'
                '<a href="/accedi">Accedi</a><!--/polis:account--></header>'
                "<main>&lt;!--polis:account--&gt;</main>",
                content_type="text/html; charset=utf-8",
            )
        if request.path.endswith("/with-assets"):  # a service's page: polis.ui's asset URLs, with ?v=
            return Response(
                '<!doctype html><html lang="it"><head>'
                '<link rel="stylesheet" href="/static/vendor/bootstrap-italia/css/bootstrap-italia.min.css'
                '?v=ui-1"></head><body><svg>'
                '<use href="/static/vendor/bootstrap-italia/svg/sprites.svg?v=ui-1#it-pa"></use>'
                "</svg><p>/static/css/gateway.css stays as it is in text</p>"
                '<script src="/static/vendor/no-such-file.js?v=ui-1"></script></body></html>',
                content_type="text/html; charset=utf-8",
            )
        if request.path.endswith("/created"):
            return Response(
                "{}",
                status=201,
                headers={
                    "Location": "/api/iam/things/1",
                    "Connection": "close",
                    "Access-Control-Allow-Origin": "*",
                },
                content_type="application/json",
            )
        echoed = {
            "method": request.method,
            "path": request.path,
            "query": request.query_string.decode(),
            "headers": dict(request.headers),
            "body": request.get_data(as_text=True),
        }
        return Response(json.dumps(echoed), content_type="application/json", headers={"X-Upstream": "yes"})

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.thread.join()


@pytest.fixture(scope="session")
def iam() -> Iterator[FakeIam]:
    """IAM's OpenID Connect endpoints played by a real HTTP server (tests/iam_double.py)."""
    fake = FakeIam()
    fake.thread.start()
    yield fake
    fake.server.shutdown()
    fake.thread.join()


@pytest.fixture(scope="session")
def upstream() -> Iterator[Upstream]:
    with Upstream() as server:
        yield server


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setenv("POLIS_ENV", "test")
    return {}


def free_port_url() -> str:
    """An address where nothing listens: bind a port, then close it."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def app(settings: dict, upstream: Upstream):
    return create_app(
        {
            "GATEWAY_SERVICES": {"iam": upstream.url, "istanze": free_port_url()},
            "GATEWAY_READ_TIMEOUT": 0.3,
            "WTF_CSRF_ENABLED": True,
            **settings,
        }
    )


@pytest.fixture
def client(app):
    return app.test_client()
