"""One place mapping errors to answers: the JSON error shape under /api, a readable page elsewhere."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from polis.errors import ApiError, error_body
from werkzeug.exceptions import HTTPException

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
}
# Pages with their own wording; other statuses use the generic one.
PAGES = (400, 404, 429, 500, 503)


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> tuple[Response | str, int]:
        if _wants_json():
            return jsonify(exc.to_dict()), exc.status
        return _page(exc.status), exc.status

    @app.errorhandler(CSRFError)
    def _csrf_error(exc: CSRFError) -> tuple[str, int]:
        log.info("form refused: %s", exc.description)
        return _page(400, csrf=True), 400

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> tuple[Response | str, int]:
        status = exc.code or 500
        if _wants_json():
            message = MESSAGES.get(status, exc.name)
            return jsonify(error_body(CODES.get(status, "http_error"), message)), status
        return _page(status), status

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> tuple[Response | str, int]:
        # The stack trace goes to the log (with the request id), never into the answer.
        log.exception("unexpected error")
        if _wants_json():
            return jsonify(error_body("internal_error", MESSAGES[500])), 500
        return _page(500), 500


def _wants_json() -> bool:
    return request.path == "/api" or request.path.startswith("/api/")


def _page(status: int, *, csrf: bool = False) -> str:
    return render_template(
        "errors/error.html", status=status, kind=status if status in PAGES else 0, csrf=csrf
    )
