"""Security headers on every response; the session cookie's flags are set in config.py."""

from __future__ import annotations

from flask import Flask, Response

# No 'unsafe-inline' anywhere: templates carry no inline script, style or event handler.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'self'; object-src 'none'"
)
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=(), browsing-topics=()"


def security_headers(*, hsts: bool) -> list[tuple[str, str]]:
    """The headers every answer of the gateway carries, pages and API alike."""
    headers = [
        ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "same-origin"),
        ("Permissions-Policy", PERMISSIONS_POLICY),
        ("Cross-Origin-Opener-Policy", "same-origin"),
        # For browsers that predate frame-ancestors.
        ("X-Frame-Options", "DENY"),
    ]
    if hsts:
        # Only when the site is served over HTTPS: HSTS on plain HTTP would lock developers out.
        headers.append(("Strict-Transport-Security", "max-age=31536000; includeSubDomains"))
    return headers


def register_security_headers(app: Flask) -> None:
    headers = security_headers(hsts=app.config["GATEWAY_SECURE_COOKIES"])

    @app.after_request
    def _security_headers(response: Response) -> Response:
        for name, value in headers:
            response.headers[name] = value
        return response
