"""Issue 18, P1-login: IAM's cookie session keeps its signing serializer between requests
(iam.pages.session). The cookie is Flask's own, byte for byte: Flask's interface reads what IAM's wrote and
the other way round, a key rotation (SECRET_KEY_FALLBACKS) still opens old cookies, a new key makes a new
serializer, and a cookie signed with another key opens as an empty session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask, session
from flask.sessions import SecureCookieSessionInterface
from iam.pages.session import IamSessionInterface
from oidc_helpers import make_app


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    yield from make_app(database_url)


def cookie_of(app: Flask, interface: SecureCookieSessionInterface, values: dict[str, str]) -> str:
    serializer = interface.get_signing_serializer(app)
    assert serializer is not None
    return serializer.dumps(values)


def test_the_app_uses_it_and_the_serializer_is_made_once(app: Flask) -> None:
    interface = app.session_interface
    assert isinstance(interface, IamSessionInterface)
    first = interface.get_signing_serializer(app)
    assert first is not None
    assert interface.get_signing_serializer(app) is first
    app.secret_key = "another-secret-key-for-this-test-0123456789"
    second = interface.get_signing_serializer(app)
    assert second is not None and second is not first
    app.config["SECRET_KEY_FALLBACKS"] = ["an-old-key-0123456789"]
    assert interface.get_signing_serializer(app) is not second


def test_the_cookie_is_flasks(app: Flask) -> None:
    ours, flasks = IamSessionInterface(), SecureCookieSessionInterface()
    serializer = ours.get_signing_serializer(app)
    assert serializer is not None
    signed = cookie_of(app, flasks, {"csrf_token": "t"})
    assert serializer.loads(signed) == {"csrf_token": "t"}
    mine = cookie_of(app, ours, {"csrf_token": "u"})
    theirs = flasks.get_signing_serializer(app)
    assert theirs is not None and theirs.loads(mine) == {"csrf_token": "u"}


def test_through_requests_a_rotated_key_and_a_foreign_cookie(app: Flask) -> None:
    @app.get("/test-session-set")
    def set_value() -> str:
        session["csrf_token"] = "kept"
        return "set"

    @app.get("/test-session-get")
    def get_value() -> str:
        return str(session.get("csrf_token"))

    name = app.config["SESSION_COOKIE_NAME"]
    client = app.test_client()
    client.get("/test-session-set")
    assert client.get("/test-session-get").get_data(as_text=True) == "kept"
    old_key = app.secret_key
    app.secret_key = "the-rotated-secret-key-0123456789abcdef"
    app.config["SECRET_KEY_FALLBACKS"] = [old_key]
    assert client.get("/test-session-get").get_data(as_text=True) == "kept"  # the old key still opens it
    app.config["SECRET_KEY_FALLBACKS"] = []
    assert client.get("/test-session-get").get_data(as_text=True) == "None"  # no longer: an empty session
    stranger = SecureCookieSessionInterface()
    app.secret_key = "a-key-nobody-else-has-0123456789abcdef"
    forged = cookie_of(app, stranger, {"csrf_token": "forged"})
    app.secret_key = "the-rotated-secret-key-0123456789abcdef"
    client.set_cookie(name, forged)
    assert client.get("/test-session-get").get_data(as_text=True) == "None"
