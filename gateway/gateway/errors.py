"""One place mapping errors to answers: the JSON error shape under /api, a readable page elsewhere."""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from flask_babel import format_time
from flask_wtf.csrf import CSRFError
from polis.errors import ApiError, error_body
from werkzeug.exceptions import HTTPException

from gateway.auth.tokens import StoreUnavailable

log = logging.getLogger("gateway.errors")

# Stable codes for the HTTP errors Werkzeug and the extensions raise.
CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
    500: "internal_error",
    503: "service_unavailable",
    504: "service_unavailable",
}
MESSAGES = {
    404: "The resource does not exist.",
    405: "This method is not allowed here.",
    413: "The request body is too large.",
    429: "Too many requests: please wait and try again.",
    500: "Something went wrong on our side: please try again later.",
    503: "The service is unavailable for a moment: please try again shortly.",
}
# How long a client is asked to wait while the shared store (Redis) does not answer.
STORE_RETRY_AFTER = "30"
# Pages with their own wording; other statuses use the generic one.
PAGES = (400, 404, 429, 500, 503)


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> tuple[Response | str, int]:
        if _wants_json():
            return jsonify(exc.to_dict()), exc.status
        return _page(exc.status), exc.status

    @app.errorhandler(StoreUnavailable)
    def _store_unavailable(exc: StoreUnavailable) -> Response:
        log.warning("answered 503: %s", exc)
        return unavailable_answer()

    @app.errorhandler(CSRFError)
    def _csrf_error(exc: CSRFError) -> tuple[str, int]:
        log.info("form refused: %s", exc.description)
        return _page(400, csrf=True), 400

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> tuple[Response | str, int] | tuple[str, int, dict[str, str]]:
        status = exc.code or 500
        if _wants_json():
            message = MESSAGES.get(status, exc.name)
            return jsonify(error_body(CODES.get(status, "http_error"), message)), status
        if status == 429:
            return _too_many_page()
        return _page(status), status

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> tuple[Response | str, int]:
        # The stack trace goes to the log (with the request id), never into the answer.
        log.exception("unexpected error")
        if _wants_json():
            return jsonify(error_body("internal_error", MESSAGES[500])), 500
        return _page(500), 500


def unavailable_answer() -> Response:
    """503 while the shared store does not answer (docs/architecture.md, "When Redis is down"): the JSON
    error shape under /api, else the readable page; never cached, with Retry-After."""
    if _wants_json():
        response = jsonify(error_body("service_unavailable", MESSAGES[503]))
    else:
        response = Response(_page(503), mimetype="text/html")
    response.status_code = 503
    response.headers["Retry-After"] = STORE_RETRY_AFTER
    response.headers["Cache-Control"] = "no-store"
    return response


def _wants_json() -> bool:
    return request.path == "/api" or request.path.startswith("/api/")


def _page(status: int, *, csrf: bool = False, **context: Any) -> str:
    return render_template(
        "errors/error.html", status=status, kind=status if status in PAGES else 0, csrf=csrf, **context
    )


def _too_many_page() -> tuple[str, int, dict[str, str]]:
    """A rate limit's page: the real wait (from the limit's window, also in Retry-After) and the way back to
    the page the user came from, not a vague "wait a few minutes" (issue 13 item 4)."""
    from gateway.ratelimit import current_refusal
    from gateway.stepup import form_home

    current = current_refusal()
    seconds = current.seconds_left() if current is not None else 0
    headers = {"Retry-After": str(seconds)} if seconds else {}
    return (
        _page(
            429,
            wait_minutes=math.ceil(seconds / 60),
            wait_until=format_time(datetime.now(UTC) + timedelta(seconds=seconds), "short")
            if seconds
            else "",
            # A form sent too often leads back to it; a page read too often has the home link below.
            back_url=form_home(request.path, request.referrer, request.host)
            if request.method == "POST"
            else "",
        ),
        429,
        headers,
    )
