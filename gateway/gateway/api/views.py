"""/api/<service>/<rest>: forwards the request to the service and copies its answer back."""

from __future__ import annotations

import json
from typing import Any

import urllib3
from flask import Blueprint, Response, current_app, request
from polis import requestid
from polis.errors import ApiError, MalformedJson, NotFound, ServiceUnavailable, UnsupportedMediaType

from gateway.api import upstream
from gateway.platform import UPSTREAM_ERRORS

bp = Blueprint("api", __name__, url_prefix="/api")

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
# Never passed on from the browser: the gateway sets its own, or the service must not see them
# (the portal's session cookie; request ids and client addresses the outside world could forge).
REQUEST_DROPPED = frozenset(
    {
        "host",
        "cookie",
        "content-length",
        "x-request-id",
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-host",
        "x-forwarded-port",
        "x-real-ip",
        "forwarded",
    }
)


class GatewayTimeout(ApiError):
    status = 504
    code = "service_unavailable"
    message = "The service did not answer in time: please try again shortly."


@bp.before_request
def require_json_for_unsafe_methods() -> None:
    """The JSON API's CSRF defence: a cross-site form cannot send application/json without a preflight."""
    if request.method in UNSAFE and request.mimetype != "application/json":
        raise UnsupportedMediaType()


@bp.route("/<service>/", defaults={"rest": ""}, methods=METHODS)
@bp.route("/<service>/<path:rest>", methods=METHODS)
def forward(service: str, rest: str) -> Response:
    base_url = current_app.config["GATEWAY_SERVICES"].get(service)
    if base_url is None:
        raise NotFound(f"There is no service called {service!r}.")
    body = _body()
    url = f"{base_url}/api/{service}/{rest}"
    if request.query_string:
        url += "?" + request.query_string.decode("latin-1")
    try:
        answer = upstream.send(
            request.method,
            url,
            headers=_request_headers(),
            body=body,
            connect_timeout=current_app.config["GATEWAY_CONNECT_TIMEOUT"],
            read_timeout=current_app.config["GATEWAY_READ_TIMEOUT"],
        )
    except urllib3.exceptions.HTTPError as exc:
        # With retries spent urllib3 wraps the cause in MaxRetryError; without, it raises the cause.
        cause = getattr(exc, "reason", None) or exc
        if isinstance(cause, urllib3.exceptions.ReadTimeoutError):
            _upstream_failed(service, "read_timeout", exc)
            raise GatewayTimeout() from None
        _upstream_failed(service, "unreachable", exc)
        raise ServiceUnavailable() from None
    headers = [(k, v) for k, v in answer.headers.items() if _keep_response_header(k, answer.headers)]
    return Response(upstream.stream(answer), status=answer.status, headers=headers, direct_passthrough=True)


def _body() -> bytes | None:
    # Buffered, but never beyond MAX_CONTENT_LENGTH (Werkzeug raises 413 first), so a malformed body
    # is refused here with the platform's error shape instead of travelling to the service.
    data = request.get_data(cache=False)
    if not data:
        return None
    if request.mimetype == "application/json":
        try:
            json.loads(data)
        except ValueError:
            raise MalformedJson() from None
    return data


def _request_headers() -> dict[str, str]:
    connection_listed = {h.strip().lower() for h in request.headers.get("Connection", "").split(",")}
    headers = {
        name: value
        for name, value in request.headers.items()
        if (lowered := name.lower()) not in HOP_BY_HOP
        and lowered not in REQUEST_DROPPED
        and lowered not in connection_listed
    }
    headers[requestid.HEADER] = requestid.current_request_id() or requestid.new_request_id()
    # remote_addr and scheme are already corrected by ProxyFix for the trusted proxies only.
    headers["X-Forwarded-For"] = request.remote_addr or ""
    headers["X-Forwarded-Proto"] = request.scheme
    return headers


def _keep_response_header(name: str, all_headers: Any) -> bool:
    lowered = name.lower()
    connection_listed = {h.strip().lower() for h in all_headers.get("Connection", "").split(",")}
    # No CORS: whatever a service says, the browser gets no cross-origin grant through the gateway.
    # Server/Date are the gateway's own; X-Request-ID is set once by the edge.
    return not (
        lowered in HOP_BY_HOP
        or lowered in connection_listed
        or lowered.startswith("access-control-")
        or lowered in ("server", "date", "x-request-id")
    )


def _upstream_failed(service: str, kind: str, exc: Exception) -> None:
    UPSTREAM_ERRORS.labels(service, kind).inc()
    current_app.logger.warning("service %s failed: %s", service, kind, extra={"error": str(exc)})
