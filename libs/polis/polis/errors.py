"""The error hierarchy every JSON API shares and its one wire shape: {"error": {code, message, fields}}."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error a client may see: a stable code, a readable message, an HTTP status, per-field details."""

    status = 400
    code = "bad_request"
    message = "The request cannot be processed."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        status: int | None = None,
        fields: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message or self.message)
        self.message = message or self.message
        self.code = code or self.code
        self.status = status or self.status
        self.fields = fields or {}

    def to_dict(self) -> dict[str, Any]:
        return error_body(self.code, self.message, self.fields)


class ValidationFailed(ApiError):
    status = 400
    code = "validation_failed"
    message = "Some fields are not valid."


class MalformedJson(ApiError):
    status = 400
    code = "malformed_json"
    message = "The request body is not valid JSON."


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"
    message = "Authentication is required."


class Forbidden(ApiError):
    status = 403
    code = "forbidden"
    message = "You are not allowed to do this."


class NotFound(ApiError):
    status = 404
    code = "not_found"
    message = "The resource does not exist."


class Conflict(ApiError):
    status = 409
    code = "conflict"
    message = "The request conflicts with the current state."


class PayloadTooLarge(ApiError):
    status = 413
    code = "payload_too_large"
    message = "The request body is too large."


class UnsupportedMediaType(ApiError):
    status = 415
    code = "unsupported_media_type"
    message = "The request body must be JSON (Content-Type: application/json)."


class TooManyRequests(ApiError):
    status = 429
    code = "too_many_requests"
    message = "Too many requests: please wait and try again."


class ServiceUnavailable(ApiError):
    status = 503
    code = "service_unavailable"
    message = "The service is temporarily unavailable: please try again shortly."


def error_body(code: str, message: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}
