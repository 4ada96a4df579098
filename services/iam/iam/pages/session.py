"""IAM's cookie session (`iam_session`, the form's CSRF token) with its signing serializer made once per key
set (issue 18, P1-login): Flask's SecureCookieSessionInterface builds a new URLSafeTimedSerializer on every
open and every save, two of them per page request of a login. The same serializer, salt, key derivation and
digest as Flask's, so the cookie is byte for byte what Flask writes and either reads what the other wrote;
a change of SECRET_KEY or SECRET_KEY_FALLBACKS makes a new one."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer


class IamSessionInterface(SecureCookieSessionInterface):
    """Flask's secure cookie session; only the serializer is kept between requests."""

    def __init__(self) -> None:
        self._made: tuple[Any, URLSafeTimedSerializer] | None = None

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        if not app.secret_key:
            return None
        fallbacks = app.config["SECRET_KEY_FALLBACKS"]
        keys = (app.secret_key, tuple(fallbacks) if fallbacks else ())
        made = self._made  # one read: another thread may replace it meanwhile, never half of it
        if made is not None and made[0] == keys:
            return made[1]
        serializer = super().get_signing_serializer(app)
        if serializer is not None:
            self._made = (keys, serializer)
        return serializer
