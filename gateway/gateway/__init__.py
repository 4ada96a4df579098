"""The Polis gateway: the Istanze OnLine web site and the single public entry to the services' APIs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask
from polis.config import apply_overrides
from polis.logging import configure_logging
from werkzeug.middleware.proxy_fix import ProxyFix

from gateway.config import load_settings
from gateway.responses import WholeBodyResponse

VERSION = "0.1.0"


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.response_class = WholeBodyResponse  # one body for Granian's one write (gateway/responses.py)
    register_sync_functions(app)
    app.config.update(apply_overrides(load_settings(), config))
    configure_logging(service="gateway")
    register_api_proxy(app)
    register_proxy_fix(app)
    register_extensions(app)
    register_platform(app)
    register_static(app)
    register_blueprints(app)
    register_error_handlers(app)
    register_template_globals(app)
    register_request_layer(app)
    return app


# Past this many functions (hooks, views, handlers: a few dozen in the gateway), Flask's own check as before.
SYNC_FUNCTIONS_KNOWN = 1024


def register_sync_functions(app: Flask) -> None:
    """Flask asks `inspect.iscoroutinefunction` of every hook, view and handler on every request (its
    `ensure_sync`: some thirty times a login, issue 18). A function does not become a coroutine function
    later, so each plain one is asked about once; a coroutine function is wrapped by Flask every time."""
    plain: set[Any] = set()
    ask = app.ensure_sync

    def ensure_sync(func: Any) -> Any:
        try:
            if func in plain:
                return func
        except TypeError:  # not hashable: Flask's check
            return ask(func)
        sync = ask(func)
        if sync is func and len(plain) < SYNC_FUNCTIONS_KNOWN:
            plain.add(func)
        return sync

    app.ensure_sync = ensure_sync  # type: ignore[method-assign]


def register_api_proxy(app: Flask) -> None:
    """/api/<service>/... is answered below Flask (gateway/api/proxy.py), and so are IAM's forwarded pages
    (gateway/api/page_route.py); ProxyFix wraps them afterwards. Calls from the portal's pages carry the
    session user's access token (gateway/auth/forwarding.py)."""
    from gateway.api.page_route import PageRoute
    from gateway.api.proxy import ApiProxy
    from gateway.auth.forwarding import portal_bearer
    from gateway.stepup_pages import credential_guard

    app.wsgi_app = ApiProxy(  # type: ignore[method-assign]
        PageRoute(app.wsgi_app, app), app.config, portal_bearer(app), guard=credential_guard(app)
    )


def register_proxy_fix(app: Flask) -> None:
    proxies = app.config["GATEWAY_TRUSTED_PROXIES"]
    if proxies:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies
        )


def register_request_layer(app: Flask) -> None:
    """polis.web's request layer, last so that it wraps every WSGI layer (the API proxy's answers too):
    request id, access line, metrics (gateway/platform.py)."""
    from gateway.platform import register_request_layer as register

    register(app)


def register_extensions(app: Flask) -> None:
    from gateway.extensions import babel, csrf, limiter
    from gateway.i18n import select_locale
    from gateway.sessions import PageSessionInterface, register_store_outage

    app.session_interface = PageSessionInterface()
    register_store_outage(app)
    babel.init_app(app, locale_selector=select_locale)
    csrf.init_app(app)
    limiter.init_app(app)


def register_platform(app: Flask) -> None:
    from gateway.platform import exempt_platform_routes, register_health
    from gateway.security import register_security_headers

    register_security_headers(app)
    register_health(app)
    exempt_platform_routes(app)


def register_static(app: Flask) -> None:
    """/static/: fingerprinted names, compressed answers, long-lived caching (gateway/static_files.py)."""
    from gateway.static_files import register_static_files

    register_static_files(app)


def register_blueprints(app: Flask) -> None:
    from gateway.api.pages import register_page_forwarding
    from gateway.pages.views import bp as pages_bp
    from gateway.stepup_pages import register_step_up

    register_step_up(app)
    register_page_forwarding(app)
    from gateway.auth.views import bp as auth_bp  # before pages: /accedi is the login (oidc work)

    app.register_blueprint(auth_bp)
    app.register_blueprint(pages_bp)


def register_error_handlers(app: Flask) -> None:
    from gateway.errors import register_error_handlers as register

    register(app)


def register_template_globals(app: Flask) -> None:
    from polis.ui import register_ui

    from gateway.pages.account import signed_in_user

    version_file = Path(app.static_folder or "", "vendor", "bootstrap-italia", "VERSION")
    vendor_version = version_file.read_text().strip() if version_file.exists() else "missing"
    # The shared layout (polis.ui); its links point at the gateway's own routes.
    register_ui(
        app,
        asset_version=f"{VERSION}-{vendor_version}",
        home_url="/",
        login_url="/accedi",
        language_url="/lingua/{code}",
        static_url=app.static_url_path or "/static",
        current_user=signed_in_user,
    )
