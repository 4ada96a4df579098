"""The Polis gateway: the Istanze OnLine web site and the single public entry to the services' APIs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask, url_for
from flask_babel import get_locale
from polis.config import apply_overrides
from polis.logging import configure_logging
from werkzeug.middleware.proxy_fix import ProxyFix

from gateway.config import load_settings

VERSION = "0.1.0"


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(apply_overrides(load_settings(), config))
    configure_logging(service="gateway")
    register_proxy_fix(app)
    register_extensions(app)
    register_platform(app)
    register_blueprints(app)
    register_error_handlers(app)
    register_template_globals(app)
    return app


def register_proxy_fix(app: Flask) -> None:
    proxies = app.config["GATEWAY_TRUSTED_PROXIES"]
    if proxies:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies
        )


def register_extensions(app: Flask) -> None:
    from gateway.api import upstream
    from gateway.extensions import babel, csrf, limiter
    from gateway.i18n import select_locale
    from gateway.sessions import PageSessionInterface

    app.session_interface = PageSessionInterface()
    babel.init_app(app, locale_selector=select_locale)
    csrf.init_app(app)
    limiter.init_app(app)
    upstream.configure(app.config["GATEWAY_POOL_MAXSIZE"])


def register_platform(app: Flask) -> None:
    from gateway.platform import exempt_platform_routes, register_health, register_request_id
    from gateway.security import register_security_headers

    register_request_id(app)
    register_security_headers(app)
    register_health(app)
    exempt_platform_routes(app)


def register_blueprints(app: Flask) -> None:
    from gateway.api.views import bp as api_bp
    from gateway.extensions import csrf
    from gateway.pages.views import bp as pages_bp

    # The JSON API is protected by the content-type rule instead of tokens (see README).
    csrf.exempt(api_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(pages_bp)


def register_error_handlers(app: Flask) -> None:
    from gateway.errors import register_error_handlers as register

    register(app)


def register_template_globals(app: Flask) -> None:
    version_file = Path(app.static_folder or "", "vendor", "bootstrap-italia", "VERSION")
    vendor_version = version_file.read_text().strip() if version_file.exists() else "missing"
    asset_version = f"{VERSION}-{vendor_version}"

    @app.context_processor
    def _globals() -> dict[str, Any]:
        locale = str(get_locale() or app.config["BABEL_DEFAULT_LOCALE"])
        hours = app.config["POLIS_HELPDESK_HOURS"]
        return {
            "asset_version": asset_version,
            "sprites": url_for("static", filename="vendor/bootstrap-italia/svg/sprites.svg", v=asset_version),
            "current_locale": locale,
            "helpdesk_phone": app.config["POLIS_HELPDESK_PHONE"],
            "helpdesk_hours": hours.get(locale, hours["it"]),
            "accessibility_url": app.config["POLIS_ACCESSIBILITY_URL"],
            "privacy_url": app.config["POLIS_PRIVACY_URL"],
        }
