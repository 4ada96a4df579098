"""Security headers on every response; the session cookie's flags are set in config.py."""

from __future__ import annotations

import re

from flask import Flask, Response

# No inline script anywhere, and no inline style of ours. What Bootstrap Italia's own script needs, found by
# the browser tests (tests/test_browser_portal.py, which fail on any violation): it sets style attributes
# (collapse, dropdowns), which style-src-attr permits without letting a <style> element or a script in; it
# adds two <style> elements of fixed content (2.18.3), allowed by their hashes only; and its CSS embeds an
# icon font as a data: URL.
BOOTSTRAP_ITALIA_STYLE_HASHES = (
    "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='",
    "'sha256-wPXhisdsFu1DtHYH1D9W5isSGqS5vIPn6QJWSNLqfCM='",
)
CSP_BEFORE_FORM_ACTION = (
    f"default-src 'self'; script-src 'self'; style-src 'self' {' '.join(BOOTSTRAP_ITALIA_STYLE_HASHES)}; "
    "style-src-attr 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; "
)
CSP_AFTER_FORM_ACTION = "; base-uri 'self'; object-src 'none'"
CONTENT_SECURITY_POLICY = f"{CSP_BEFORE_FORM_ACTION}form-action 'self'{CSP_AFTER_FORM_ACTION}"
# IAM's login, forced-change and consent forms end, after a chain of redirects, at the client's redirect
# URI, and browsers check form-action along the whole chain. IAM names that one origin (a registered
# redirect URI of the client in the authorization request) in this internal header; the gateway removes
# it and allows that origin for that page only.
FORM_ACTION_HEADER = "X-Polis-Form-Action"
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?")
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
        extra = response.headers.pop(FORM_ACTION_HEADER, None)
        if extra is not None and _ORIGIN.fullmatch(extra):
            response.headers["Content-Security-Policy"] = (
                f"{CSP_BEFORE_FORM_ACTION}form-action 'self' {extra}{CSP_AFTER_FORM_ACTION}"
            )
        return response
