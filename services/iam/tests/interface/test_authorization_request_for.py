"""Issue 18, P1-login: the login POST continues the authorization request its form carries
(authorization.request_for) with an environ made directly instead of werkzeug's EnvironBuilder. It must be
the builder's environ, key for key, for the requests a login sees (behind the gateway: forwarded headers,
ports, https), and the builder still makes the unusual ones (a script root, an IPv6 or odd host, a
non-ASCII query)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, Request, request
from iam.oidc import authorization
from oidc_helpers import authorize_url, make_app, pkce
from werkzeug.test import EnvironBuilder

QUERY = authorize_url(pkce()[1]).split("?", 1)[1]
GATEWAY_HEADERS = {
    "X-Forwarded-For": "203.0.113.7",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "portale.example.it",
    "X-Request-Id": "req-1",
    "Accept-Language": "it,en;q=0.5",
    "Cookie": "iam_session=abc; lang=it",
    "User-Agent": "bench",
    "Transfer-Encoding": "identity",
}


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    yield from make_app(database_url)


def built(query: str) -> dict[str, Any]:
    """What request_for made before (and makes for the unusual requests): werkzeug's builder."""
    builder = EnvironBuilder(
        path=authorization.AUTHORIZE_PATH,
        base_url=request.root_url,
        query_string=query,
        method="GET",
        headers=[(n, v) for n, v in request.headers if n.lower() not in authorization._BODY_HEADERS],
        environ_base={"REMOTE_ADDR": request.remote_addr or ""},
    )
    try:
        return builder.get_environ()
    finally:
        builder.close()


def comparable(environ: dict[str, Any]) -> dict[str, Any]:
    plain = dict(environ)
    stream = plain.pop("wsgi.input")
    assert stream.read() == b""  # a GET: no body
    return plain


@pytest.mark.parametrize(
    ("base_url", "headers"),
    [
        ("http://localhost:8080", GATEWAY_HEADERS),  # the bench's and the tests' address
        ("http://127.0.0.1:8101", {}),
        ("https://iam.example.it", GATEWAY_HEADERS),  # default port of https
        ("http://iam.example.it", {"Host": "iam.example.it:80"}),  # Host with the default port
        ("http://iam.internal:8101", {"X-Odd_Header": "a, b", "Authorization": "Basic eA=="}),
    ],
)
def test_the_environ_is_the_builders(app: Flask, base_url: str, headers: dict[str, str]) -> None:
    with app.test_request_context(
        "/iam/accedi",
        method="POST",
        base_url=base_url,
        headers=headers,
        data={"username": "mario.rossi", "password": "x", "next": "/oidc/authorize?" + QUERY},
        environ_base={"REMOTE_ADDR": "198.51.100.4"},
    ):
        made = authorization.authorize_environ(request, QUERY)
        assert made is not None
        assert comparable(made) == comparable(built(QUERY))
        continued = authorization.request_for("/oidc/authorize?" + QUERY)
        assert continued is not None
        before = Request(built(QUERY))
        assert (continued.url, continued.full_path, continued.args) == (
            before.url,
            before.full_path,
            before.args,
        )
        assert continued.args.get("client_id") == "portal"
        assert continued.method == "GET"
        assert "Content-Type" not in continued.headers
        assert continued.remote_addr == "198.51.100.4"


@pytest.mark.parametrize(
    ("base_url", "query"),
    [
        ("http://localhost:8080/polis", QUERY),  # a script root
        ("http://[::1]:8101", QUERY),  # an IPv6 host
        ("http://localhost:8080", QUERY + "&state=citt%C3%A0%20" + "\u00e0"),  # non-ASCII
    ],
)
def test_the_builder_makes_the_unusual_ones(app: Flask, base_url: str, query: str) -> None:
    with app.test_request_context("/iam/accedi", method="POST", base_url=base_url, data={"next": "x"}):
        assert authorization.authorize_environ(request, query) is None
        continued = authorization.request_for("/oidc/authorize?" + query)
        assert continued is not None
        assert comparable(continued.environ) == comparable({**built(query), "werkzeug.request": continued})
        assert continued.args.get("client_id") == "portal"


def test_not_an_authorization_request(app: Flask) -> None:
    with app.test_request_context("/iam/accedi", method="POST"):
        assert authorization.request_for("/iam/area-riservata") is None
        assert authorization.request_for("/oidc/authorize") is None  # no query: nothing to continue
