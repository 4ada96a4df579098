"""Issue 18 (P3): POST /oidc/token is answered below Flask's dispatch (iam.oidc.token_route). Its answers are
the Flask view's answers, byte for byte but for the token values; what it does not take (an unusual body, a
query string) reaches Flask's route with its body; a refresh on PostgreSQL is two statements and no
transaction, and a refresh spent by a racing request still ends the family."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from iam.clients import service as clients
from iam.extensions import db
from iam.oidc.token_route import TokenRoute
from oidc_helpers import PORTAL, PORTAL_SECRET, full_login, make_account, make_app
from sqlalchemy import event

SERVICE = "p3-batch"
SERVICE_SECRET = "p3-batch-secret-0123456789abcdef"
# Values that differ from one answer to the next, whoever answers.
VOLATILE = {"access_token", "refresh_token", "id_token"}


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    for app in make_app(database_url):
        with app.app_context():
            clients.ensure(
                db,
                client_id=SERVICE,
                name="P3 batch",
                secret=SERVICE_SECRET,
                scopes=["istanze"],
                grant_types=["client_credentials"],
                audiences=["urn:polis:istanze"],
                service_roles=["ops"],
            )
        yield app


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def route_of(app: Flask) -> TokenRoute:
    route = app.wsgi_app.wsgi_app  # type: ignore[attr-defined]  # polis.web's request layer, then the route
    assert isinstance(route, TokenRoute)
    return route


@contextmanager
def through_flask(app: Flask) -> Iterator[None]:
    """Requests go to Flask's own route for the token endpoint, as before the token route."""
    layer = app.wsgi_app
    route = route_of(app)
    layer.wsgi_app = route.flask_app  # type: ignore[attr-defined]
    try:
        yield
    finally:
        layer.wsgi_app = route  # type: ignore[attr-defined]


def answer_shape(answer: Any) -> tuple[int, list[tuple[str, str]], dict[str, Any]]:
    headers = [
        (name, value) for name, value in answer.headers if name not in ("Content-Length", "X-Request-ID")
    ]
    body = json.loads(answer.get_data())
    return (
        answer.status_code,
        headers,
        {key: (key if key in VOLATILE else value) for key, value in body.items()},
    )


TOKEN_REQUESTS = [
    pytest.param(
        basic(SERVICE, SERVICE_SECRET), {"grant_type": "client_credentials"}, id="client credentials"
    ),
    pytest.param(basic(SERVICE, "wrong"), {"grant_type": "client_credentials"}, id="wrong secret"),
    pytest.param({}, {"grant_type": "client_credentials", "client_id": SERVICE}, id="no authentication"),
    pytest.param(basic(SERVICE, SERVICE_SECRET), {"grant_type": "password"}, id="unsupported grant"),
    pytest.param(
        basic(SERVICE, SERVICE_SECRET), {"grant_type": "client_credentials", "scope": "iam"}, id="scope"
    ),
    pytest.param(basic(PORTAL, PORTAL_SECRET), {"grant_type": "refresh_token"}, id="no refresh token"),
    pytest.param(
        basic(PORTAL, PORTAL_SECRET),
        {"grant_type": "refresh_token", "refresh_token": "not-one-of-ours"},
        id="unknown refresh token",
    ),
]


@pytest.mark.parametrize(("headers", "data"), TOKEN_REQUESTS)
def test_issue_18_the_token_route_answers_what_the_flask_view_answered(
    app: Flask, headers: dict[str, str], data: dict[str, str]
) -> None:
    client = app.test_client()
    with through_flask(app):
        before = answer_shape(client.post("/oidc/token", data=data, headers=headers))

    after = client.post("/oidc/token", data=data, headers=headers)

    assert answer_shape(after) == before
    assert after.headers["Content-Length"] == str(len(after.get_data()))
    assert after.headers["X-Request-ID"]  # the request layer is still around it


def test_issue_18_a_refresh_through_the_token_route_rotates_as_before(app: Flask) -> None:
    client = app.test_client()
    make_account()
    first = full_login(client)["token"]
    with through_flask(app):
        before = client.post(
            "/oidc/token",
            data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
            headers=basic(PORTAL, PORTAL_SECRET),
        )
    after = client.post(
        "/oidc/token",
        data={"grant_type": "refresh_token", "refresh_token": before.get_json()["refresh_token"]},
        headers=basic(PORTAL, PORTAL_SECRET),
    )

    assert answer_shape(after) == answer_shape(before)
    assert after.get_json()["refresh_token"] != before.get_json()["refresh_token"]


@pytest.mark.parametrize(
    ("path", "body", "content_type"),
    [
        ("/oidc/token?grant_type=client_credentials", "", "application/x-www-form-urlencoded"),
        ("/oidc/token", json.dumps({"grant_type": "client_credentials"}), "application/json"),
        (
            "/oidc/token",
            "grant_type=client_credentials&pad=" + "x" * 20_000,
            "application/x-www-form-urlencoded",
        ),
    ],
    ids=["query string", "json body", "large body"],
)
def test_issue_18_what_the_token_route_does_not_take_reaches_flask_with_its_body(
    app: Flask, path: str, body: str, content_type: str
) -> None:
    client = app.test_client()
    headers = {**basic(SERVICE, SERVICE_SECRET), "Content-Type": content_type}
    with through_flask(app):
        before = client.post(path, data=body, headers=headers)

    after = client.post(path, data=body, headers=headers)

    assert (after.status_code, after.get_json().get("error")) == (
        before.status_code,
        before.get_json().get("error"),
    )
    assert after.status_code in (200, 400)


def test_issue_18_an_error_inside_a_grant_gets_the_apps_error_answer(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    from iam.keys import service as keys

    def broken_sign(*_args: Any, **_kwargs: Any) -> str:
        raise RuntimeError("the signing key is gone")

    monkeypatch.setattr(keys, "sign", broken_sign)
    client = app.test_client()
    data, headers = {"grant_type": "client_credentials"}, basic(SERVICE, SERVICE_SECRET)
    with through_flask(app):
        before = client.post("/oidc/token", data=data, headers=headers)

    after = client.post("/oidc/token", data=data, headers=headers)

    assert after.status_code == before.status_code == 500
    assert after.get_json() == before.get_json()
    assert "signing key" not in after.get_data(as_text=True)


def token_requests_counted(client: FlaskClient) -> float:
    """http_requests_total of POST /oidc/token answered 200, as /metrics shows it."""
    labels = ('endpoint="/oidc/token"', 'method="POST"', 'status="200"')
    for line in client.get("/metrics").get_data(as_text=True).splitlines():
        if line.startswith("http_requests_total{") and all(label in line for label in labels):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_issue_18_the_token_endpoint_keeps_its_name_in_the_request_metrics(app: Flask) -> None:
    client = app.test_client()
    before = token_requests_counted(client)

    answer = client.post(
        "/oidc/token", data={"grant_type": "client_credentials"}, headers=basic(SERVICE, SERVICE_SECRET)
    )

    assert answer.status_code == 200
    assert token_requests_counted(client) == before + 1


def test_issue_18_a_refresh_on_postgresql_is_two_statements_without_a_transaction(
    app: Flask, database_kind: str
) -> None:
    if database_kind != "postgresql":
        pytest.skip("SQLite keeps the read and the write apart (its write lock): two transactions")
    client = app.test_client()
    make_account()
    token = full_login(client)["token"]
    statements: list[str] = []
    transactions: list[str] = []

    def cursor(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement.split()[0])

    def begin(conn: Any) -> None:
        if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            transactions.append("BEGIN")

    event.listen(db.engine, "before_cursor_execute", cursor)
    event.listen(db.engine, "begin", begin)
    try:
        answer = client.post(
            "/oidc/token",
            data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
            headers=basic(PORTAL, PORTAL_SECRET),
        )
    finally:
        event.remove(db.engine, "before_cursor_execute", cursor)
        event.remove(db.engine, "begin", begin)

    assert answer.status_code == 200, answer.get_json()
    assert statements == ["SELECT", "WITH"] and transactions == []


def test_issue_18_a_token_request_has_what_authlib_gives_its_own_requests() -> None:
    from authlib.oauth2.rfc6749 import OAuth2Request
    from iam.oidc.token_route import TokenRequest
    from werkzeug.datastructures import MultiDict

    environ = {"HTTP_AUTHORIZATION": "Basic eDp5", "REQUEST_METHOD": "POST"}
    ours = TokenRequest(environ, "https://iam.example.org/oidc/token", MultiDict([("grant_type", "x")]))
    authlib = OAuth2Request("POST", "https://iam.example.org/oidc/token")

    assert set(vars(authlib)) <= set(vars(ours))
    assert ours.headers.get("authorization") == "Basic eDp5" and ours.payload.grant_type == "x"
    assert (ours.method, ours.uri, ours.client, ours.user, ours.scope) == (
        "POST",
        authlib.uri,
        None,
        None,
        None,
    )


def test_issue_18_plain_http_to_a_non_loopback_host_is_answered_as_before(app: Flask) -> None:
    client = app.test_client()
    data, headers = {"grant_type": "client_credentials"}, basic(SERVICE, SERVICE_SECRET)
    with through_flask(app):
        before = client.post("/oidc/token", data=data, headers=headers, base_url="http://iam.example.org")

    after = client.post("/oidc/token", data=data, headers=headers, base_url="http://iam.example.org")

    assert (after.status_code, after.get_json()) == (before.status_code, before.get_json())
    assert "access_token" not in after.get_json()  # Authlib refuses OAuth over plain http off loopback
