"""IAM's forwarded pages answered below Flask's dispatch (gateway/api/page_route.py, issue 18): the same
answers as Flask's view, and Flask's route for anything unusual."""

from __future__ import annotations

import json
from typing import Any

import pytest
from gateway.api.page_route import PageRoute

from gateway import create_app

USER = {"sub": "s1", "username": "marta.greco", "given_name": "Marta", "family_name": "Greco"}


def _layer(app: Any) -> PageRoute:
    layer = app.wsgi_app
    while not isinstance(layer, PageRoute):
        layer = getattr(layer, "app", None) or layer.wsgi_app
    return layer


def _apps(settings: dict, upstream: Any, **config: Any) -> tuple[Any, Any, list[str]]:
    """The same gateway twice: with the layer, and with every request going to Flask's view. The third
    item lists the paths Flask dispatched in the first app."""
    base = {"GATEWAY_SERVICES": {"iam": upstream.url}, "GATEWAY_READ_TIMEOUT": 0.3, **config, **settings}
    fast, flask_only = create_app(base), create_app(base)
    _layer(flask_only)._enabled = False
    dispatched: list[str] = []
    original = fast.full_dispatch_request

    def counted() -> Any:
        from flask import request

        dispatched.append(request.path)
        return original()

    fast.full_dispatch_request = counted  # type: ignore[method-assign]
    return fast, flask_only, dispatched


def _answer(response: Any) -> tuple[int, list[tuple[str, str]], Any]:
    headers = [(n, v) for n, v in response.headers if n not in ("X-Request-ID", "Date")]
    body: Any = response.get_data()
    if response.mimetype == "application/json":
        body = json.loads(body)
        if isinstance(body, dict) and isinstance(body.get("headers"), dict):
            body["headers"].pop("X-Request-Id", None)  # one per request
    return response.status_code, headers, body


def _get_with_session(app: Any, values: dict[str, Any], path: str) -> Any:
    client = app.test_client()
    with client.session_transaction() as session:
        session.update(values)
    return client.get(path)


REQUESTS = [
    ("GET", "/oidc/authorize?client_id=portal&state=x", {}),
    ("GET", "/iam/cookies", {}),
    ("GET", "/iam/layout", {}),
    ("GET", "/iam/with-assets", {}),
    ("POST", "/iam/accedi", {"data": {"username": "mario.rossi", "password": "x"}}),
    ("POST", "/iam/registrazione/step2", {"data": {"a": "b"}, "headers": {"Connection": "x-drop"}}),
    ("GET", "/oidc/jwks", {"headers": {"X-Forwarded-For": "1.2.3.4", "X-Drop": "no", "Cookie": "lang=en"}}),
]


@pytest.mark.parametrize(("method", "path", "options"), REQUESTS)
def test_the_layer_answers_as_the_flask_view_does(settings, upstream, method, path, options):
    fast, flask_only, dispatched = _apps(settings, upstream)
    ours = fast.test_client().open(path, method=method, **options)
    theirs = flask_only.test_client().open(path, method=method, **options)
    assert _answer(ours) == _answer(theirs)
    assert dispatched == []  # answered below Flask's dispatch


def test_a_signed_in_user_takes_flasks_route_with_the_same_menu_and_a_private_page(settings, upstream):
    # Flask's before-request hooks must run for a session with a user: they end a portal session whose SSO
    # session IAM ended (back-channel logout), so a forwarded page never names a user signed out elsewhere.
    fast, flask_only, dispatched = _apps(settings, upstream)
    ours, theirs = (
        _get_with_session(app, {"user": USER}, "/iam/registrazione/layout") for app in (fast, flask_only)
    )
    page = ours.get_data(as_text=True)
    assert "Marta Greco" in page and "private, no-store" in ours.headers["Cache-Control"]
    # The logout form's token is bound to each session: the rest of the answer is the same.
    assert _answer(ours)[:2] == _answer(theirs)[:2]
    assert dispatched == ["/iam/registrazione/layout"]


def test_a_login_in_progress_stays_below_flask(settings, upstream):
    # The login's own requests carry the portal session of the login's state, without a user.
    fast, flask_only, dispatched = _apps(settings, upstream)
    path = "/oidc/authorize?client_id=portal&state=x"
    ours, theirs = (_get_with_session(app, {"login_state": "s"}, path) for app in (fast, flask_only))
    assert _answer(ours) == _answer(theirs)
    assert dispatched == []


def test_the_page_rate_limit_counts_the_same_and_answers_with_the_429_page(settings, upstream):
    fast, flask_only, dispatched = _apps(settings, upstream, RATELIMIT_DEFAULT="2 per minute")
    for app in (fast, flask_only):
        client = app.test_client()
        statuses = [client.get("/oidc/authorize").status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
    ours = fast.test_client().get("/oidc/authorize", headers={"Accept": "text/html"})
    theirs = flask_only.test_client().get("/oidc/authorize", headers={"Accept": "text/html"})
    assert ours.status_code == theirs.status_code == 429
    assert ours.headers["Retry-After"] and ours.headers["X-Frame-Options"] == "DENY"
    assert _answer(ours)[1] == _answer(theirs)[1]
    assert dispatched == []  # the refusal too: the app's error handler, without the dispatch


def test_iam_down_is_the_same_503_page(settings):
    from conftest import free_port_url

    class Down:
        url = free_port_url()

    fast, flask_only, _ = _apps(settings, Down)
    ours = fast.test_client().get("/iam/accedi", headers={"Accept": "text/html"})
    theirs = flask_only.test_client().get("/iam/accedi", headers={"Accept": "text/html"})
    assert ours.status_code == theirs.status_code == 503
    assert _answer(ours) == _answer(theirs)


@pytest.mark.parametrize(
    ("method", "path", "options"),
    [
        ("HEAD", "/iam/accedi", {}),
        ("GET", "/iam/", {}),
        ("GET", "/iam//accedi", {}),
        ("POST", "/oidc/token", {"data": {"grant_type": "x"}}),
        ("GET", "/.well-known/openid-configuration", {}),
        ("POST", "/iam/accedi", {"data": {"a": "b"}, "pow_cookie": "proof"}),
        ("POST", "/iam/accedi", {"data": "x" * (70 * 1024), "content_type": "text/plain"}),
    ],
)
def test_anything_unusual_is_flasks_route(settings, upstream, method, path, options):
    fast, flask_only, dispatched = _apps(settings, upstream)
    pow_cookie = options.pop("pow_cookie", None)
    clients = fast.test_client(), flask_only.test_client()
    if pow_cookie:
        for client in clients:
            client.set_cookie("polis_pow", pow_cookie)
    ours, theirs = (client.open(path, method=method, **options) for client in clients)
    assert dispatched == [path.split("?")[0]]
    assert ours.status_code == theirs.status_code


def test_a_hook_the_layer_does_not_know_sends_everything_to_flask(settings, upstream):
    app = create_app({"GATEWAY_SERVICES": {"iam": upstream.url}, **settings})

    @app.before_request
    def _something_new() -> None:
        return None

    seen: list[str] = []
    original = app.full_dispatch_request

    def counted() -> Any:
        seen.append("flask")
        return original()

    app.full_dispatch_request = counted  # type: ignore[method-assign]
    assert app.test_client().get("/oidc/authorize").status_code == 200
    assert seen == ["flask"]
