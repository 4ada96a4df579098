"""POST /oidc/token answered below Flask's dispatch (issue 18, P3): the token request goes from the WSGI
environ straight to Authlib's grants (server.py), inside the request layer (polis.web: request id, access
line, metrics) and an application context, without Flask's request context, session, URL matching,
before/after-request hooks and Response object, which were about half of a client-credentials grant.

What it answers is what the Flask view (views.token) answers: the same grants, client authentication,
errors, JSON body and headers. Anything out of the ordinary (a query string, a body that is not a small
urlencoded form, a transport Authlib refuses) is handed to Flask's route unchanged, body included; an
exception in a grant gets the app's error handlers in a request context, as a view's would.
"""

from __future__ import annotations

import io
import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from functools import cached_property
from typing import Any
from urllib.parse import parse_qsl

import werkzeug.urls  # noqa: F401 - registers the "werkzeug.url_quote" codec error handler that the form parse uses
from authlib.common.security import is_secure_transport
from authlib.oauth2.rfc6749 import OAuth2Payload, OAuth2Request
from flask import Flask
from polis.web import ENDPOINT_KEY
from werkzeug.datastructures import EnvironHeaders, MultiDict
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.wsgi import get_host

TOKEN_PATH = "/oidc/token"  # noqa: S105 - a path, not a secret
FORM = "application/x-www-form-urlencoded"
# A token request is a few hundred bytes; a larger body takes Flask's route (MAX_CONTENT_LENGTH, 413 ...).
MAX_BODY = 16 * 1024

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class TokenPayload(OAuth2Payload):
    """The form's parameters, as Authlib reads them from Flask's `request.values` (the first of each name;
    every value of a name for the duplicate-parameter checks)."""

    def __init__(self, form: MultiDict[str, str]) -> None:
        self._form = form

    @property
    def data(self) -> MultiDict[str, str]:
        return self._form

    @cached_property
    def datalist(self) -> defaultdict[str, list[str]]:
        values: defaultdict[str, list[str]] = defaultdict(list)
        for key in self._form:
            values[key].extend(self._form.getlist(key))
        return values


class TokenRequest(OAuth2Request):
    """Authlib's request of one token POST, read from the WSGI environ (authlib's FlaskOAuth2Request reads
    the same from Flask's request). Its transport is checked by the route (secure_transport), once per
    address rather than once per request: OAuth2Request's own __init__ would check it again, so the
    attributes it sets are copied from one made at import (whatever this Authlib version sets)."""

    def __init__(self, environ: dict[str, Any], uri: str, form: MultiDict[str, str]) -> None:
        self.__dict__.update(_BLANK_REQUEST)
        self.uri = uri
        self.headers = EnvironHeaders(environ)  # not through `headers or {}`, which would count them
        self._form = form
        self.payload = TokenPayload(form)

    @property
    def args(self) -> MultiDict[str, str]:
        return MultiDict()

    @property
    def form(self) -> MultiDict[str, str]:
        return self._form


_BLANK_REQUEST = dict(vars(OAuth2Request("POST", "https://localhost" + TOKEN_PATH)))

# Authlib's transport verdict (https, or http to a loopback address) by token URL; as many as there are
# Host headers, so bounded: a flood of made-up hosts only stops the caching.
_TRANSPORT: dict[str, bool] = {}
_TRANSPORT_ENTRIES = 64


def secure_transport(uri: str) -> bool:
    verdict = _TRANSPORT.get(uri)
    if verdict is None:
        verdict = is_secure_transport(uri)
        if len(_TRANSPORT) < _TRANSPORT_ENTRIES:
            _TRANSPORT[uri] = verdict
    return verdict


class TokenRoute:
    """The WSGI layer between polis.web's request layer and Flask that answers POST /oidc/token."""

    def __init__(self, flask_app: WsgiApp, app: Flask) -> None:
        self.flask_app = flask_app  # Flask's own wsgi_app: every other request, and the unusual token ones
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != TOKEN_PATH or environ.get("REQUEST_METHOD") != "POST":
            return self.flask_app(environ, start_response)
        request = self._token_request(environ)
        if request is None:
            return self.flask_app(environ, start_response)
        environ[ENDPOINT_KEY] = TOKEN_PATH  # the metrics' endpoint label, as Flask's matched rule names it
        from iam.oidc import server

        with self.app.app_context():
            try:
                status, payload, headers = server.server().token_answer(request)
            except Exception:  # what Flask does with an exception in a view: the app's error handlers
                return self._error_answer(environ, start_response)
        body = payload if isinstance(payload, bytes) else _json_body(payload)
        start_response(
            f"{status} {HTTP_STATUS_CODES.get(status, 'UNKNOWN').upper()}",
            [*headers, ("Content-Length", str(len(body)))],
        )
        return [body]

    def _token_request(self, environ: dict[str, Any]) -> TokenRequest | None:
        """The request read from the environ; None (the body put back) for what Flask's route answers."""
        if environ.get("QUERY_STRING"):
            return None  # Flask's request.values puts the query's parameters first: its route keeps that
        config = self.app.config
        if config.get("TRUSTED_HOSTS") or config.get("SERVER_NAME"):
            return None  # Flask checks the Host against these: its route does
        content_type = environ.get("CONTENT_TYPE", "")
        if content_type.split(";", 1)[0].strip().lower() != FORM:
            return None
        try:
            length = int(environ.get("CONTENT_LENGTH") or "")
        except ValueError:
            return None
        if not 0 <= length <= MAX_BODY:
            return None
        try:
            body = environ["wsgi.input"].read(length) if length else b""
        except OSError:  # the client went away: Flask's route answers that as it always did
            return self._put_back(environ, b"")
        if len(body) != length:
            return self._put_back(environ, body)
        try:
            items = parse_qsl(body.decode(), keep_blank_values=True, errors="werkzeug.url_quote")
        except (UnicodeDecodeError, ValueError):
            return self._put_back(environ, body)
        # As Flask's request.url has it (Authlib checks its transport): no query, the app's root path.
        scheme, root = environ.get("wsgi.url_scheme", "http"), environ.get("SCRIPT_NAME", "")
        uri = f"{scheme}://{get_host(environ)}{root}{TOKEN_PATH}"
        if not secure_transport(uri):
            return self._put_back(environ, body)  # Authlib refuses it in FlaskOAuth2Request: as before
        return TokenRequest(environ, uri, MultiDict(items))

    @staticmethod
    def _put_back(environ: dict[str, Any], body: bytes) -> None:
        environ["wsgi.input"] = io.BytesIO(body)
        return None

    def _error_answer(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """Called in an except block: the app's handler for the exception (polis.web logs it and answers
        500 in the API's error shape), in a request context as Flask's dispatch would give it."""
        app = self.app
        context = app.request_context(environ)
        context.push()
        try:
            try:
                answer = app.finalize_request(app.handle_user_exception(_current_exception()))
            except Exception as unhandled:
                answer = app.handle_exception(unhandled)
            return answer(environ, start_response)
        finally:
            context.pop()


def _current_exception() -> Exception:
    import sys

    error = sys.exc_info()[1]
    assert isinstance(error, Exception)
    return error


def _json_body(payload: Any) -> bytes:
    # As Flask's json.dumps with the app's provider (polis.web: sort_keys off, ASCII): the same bytes.
    return json.dumps(payload).encode()


def install(app: Flask) -> None:
    """Put the token route between polis.web's request layer and Flask."""
    from polis.web import wrap_below_request_layer

    wrap_below_request_layer(app, lambda flask_app: TokenRoute(flask_app, app))
