"""Pago in rete (demo): a partner web app that signs its users in through Polis IAM (OpenID Connect).

`create_app()` is the whole integration: settings from the environment, Authlib's Flask client registered
from IAM's discovery document, the server-side session record, the views. Run it with
`gunicorn --workers 1 "pagoinrete_demo:create_app()"` (one worker: see README.md).
"""

from __future__ import annotations

import logging
import os

from authlib.integrations.flask_client import OAuth
from flask import Flask, Response

from pagoinrete_demo.sessions import SessionRegistry
from pagoinrete_demo.settings import Settings

SCOPE = "openid profile email fiscal_number"


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_environ(os.environ)
    app = Flask(__name__)
    configure(app, settings)
    register_oauth(app, settings)
    app.extensions["pagoinrete.sessions"] = SessionRegistry(settings.session_hours * 3600)
    register_views(app)
    register_security_headers(app)
    return app


def configure(app: Flask, settings: Settings) -> None:
    app.config.update(
        PAGOINRETE=settings,
        SECRET_KEY=str(settings.secret_key),
        # Its own cookie name: on localhost the portal's and IAM's cookies share the host with this app.
        SESSION_COOKIE_NAME="pagoinrete_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",  # sent on the redirect back from IAM (a top-level GET), not on POSTs
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        PERMANENT_SESSION_LIFETIME=int(settings.session_hours * 3600),
    )
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def register_oauth(app: Flask, settings: Settings) -> None:
    """IAM as an OpenID Connect provider, known from its discovery document (fetched at first use).

    One OAuth registry per app rather than a module-level one: Authlib caches a registered client by name,
    so a second app (the tests make several) would otherwise reuse the first one's settings.
    """
    oauth = OAuth(app)
    oauth.register(
        "iam",
        client_id=settings.client_id,
        client_secret=str(settings.client_secret),
        server_metadata_url=settings.server_metadata_url,
        client_kwargs={"scope": SCOPE, "code_challenge_method": "S256", "default_timeout": 10},
    )


def register_views(app: Flask) -> None:
    from pagoinrete_demo import views

    app.extensions["pagoinrete.keys"] = views.IssuerKeys()
    app.register_blueprint(views.bp)


def register_security_headers(app: Flask) -> None:
    @app.after_request
    def headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")  # the callback URL carries the code
        response.headers.setdefault("Cache-Control", "no-store")  # pages show personal data
        return response
