"""The platform every Polis Flask app shares: request ids, JSON errors, health, metrics and OpenAPI."""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask, Response, jsonify, request
from marshmallow import RAISE, Schema, ValidationError, fields
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from werkzeug.exceptions import HTTPException

from polis import requestid
from polis.errors import ApiError, MalformedJson, UnsupportedMediaType, ValidationFailed, error_body
from polis.logging import log_request

log = logging.getLogger("polis.web")
# One JSON line per request, written while the request id is still bound (gunicorn's own access log runs
# after the request and would carry none).
access_log = logging.getLogger("polis.access")

REQUESTS = Counter(
    "http_requests_total", "HTTP requests handled", ["service", "method", "endpoint", "status"]
)
LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request duration",
    ["service", "endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

ReadinessCheck = Callable[[], None]
F = TypeVar("F", bound=Callable[..., Any])

# Werkzeug's defaults name no code; these are the ones clients can rely on.
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
    500: "internal_error",
    503: "service_unavailable",
}


class ApiSchema(Schema):
    """Base of every API schema: unknown fields are refused, by name."""

    class Meta:
        unknown = RAISE


class JsonInteger(fields.Integer):
    """A strict integer as JSON Schema's `integer` reads one: 7 and 7.0 (a number with a zero fraction), never
    "7", 7.5 or true (issue 17: a schema-valid 63107.0 was refused)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, **kwargs)

    def _validated(self, value: Any) -> int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return super()._validated(value)  # type: ignore[no-any-return]


class UtcDateTime(fields.AwareDateTime):
    """A date-time dumped in ISO 8601 with its offset, as OpenAPI's `date-time` promises.

    SQLite gives back naive datetimes (the project stores UTC): they are dumped as UTC, never bare."""

    def _serialize(self, value: datetime | None, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return super()._serialize(value, attr, obj, **kwargs)


def load(schema: Schema, data: Any) -> Any:
    """Validate input with a schema, turning marshmallow's errors into the API's ValidationFailed."""
    try:
        return schema.load(data)
    except ValidationError as exc:
        fields = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        unknown = [name for name, msgs in fields.items() if msgs == ["Unknown field."]]
        message = f"Unknown fields: {', '.join(sorted(unknown))}." if unknown else ValidationFailed.message
        raise ValidationFailed(message, fields=fields) from None


def json_body() -> Any:
    """The request's JSON body; 415 unless it is declared JSON, 400 when it does not parse."""
    if not request.is_json:
        raise UnsupportedMediaType()
    data = request.get_json(silent=True)
    if data is None:
        raise MalformedJson()
    return data


# --- OpenAPI --------------------------------------------------------------------------------------------


@dataclass
class Operation:
    summary: str
    request: type[Schema] | dict[str, Any] | None = None
    response: type[Schema] | dict[str, Any] | None = None
    status: int = 200
    errors: tuple[int, ...] = ()
    tags: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)
    query: type[Schema] | None = None
    description: str | None = None
    links: dict[str, Link] = field(default_factory=dict)


# An OpenAPI link of an operation's success response: (method, path template, {parameter: expression}),
# e.g. ("GET", "/api/iam/v1/ops/revocation-rounds/{round_id}", {"round_id": "$response.body#/id"}). Stateful
# fuzzing (tests/fuzz) follows them: what one call creates, the next reads, changes or deletes.
Link = tuple[str, str, dict[str, str]]


def api_doc(
    summary: str,
    *,
    request: type[Schema] | dict[str, Any] | None = None,
    response: type[Schema] | dict[str, Any] | None = None,
    status: int = 200,
    errors: tuple[int, ...] = (),
    tags: tuple[str, ...] = (),
    query: type[Schema] | None = None,
    description: str | None = None,
    links: dict[str, Link] | None = None,
) -> Callable[[F], F]:
    """Describe a view for the service's OpenAPI document.

    request, response: the JSON bodies' schemas (a marshmallow schema, or a JSON Schema dict);
    query: the query string's schema (its fields become `in: query` parameters); description: what the
    summary leaves out, e.g. the checks no schema states that a 400 stands for; links: the OpenAPI links
    of the success response, by name (see Link)."""

    def decorate(view: F) -> F:
        view.__dict__["_polis_operation"] = Operation(
            summary,
            request,
            response,
            status,
            errors,
            tags,
            query=query,
            description=description,
            links=dict(links or {}),
        )
        return view

    return decorate


_ROUTE_ARGUMENT = re.compile(r"<(?:\w+(?:\([^)]*\))?:)?(\w+)>")


def _operation_ref(method: str, path: str) -> str:
    """The JSON pointer of an operation in this document (RFC 6901: "~" as "~0", "/" as "~1")."""
    return f"#/paths/{path.replace('~', '~0').replace('/', '~1')}/{method.lower()}"


def _path_schema(converter: object) -> dict[str, Any]:
    """A path parameter's schema as the route's converter accepts it (<uuid:...>, <int:...>, a segment)."""
    name = type(converter).__name__
    if name == "UUIDConverter":
        return {"type": "string", "format": "uuid"}
    if name == "IntegerConverter":
        bounds = {"minimum": getattr(converter, "min", None) or 0, "maximum": getattr(converter, "max", None)}
        return {"type": "integer", **{key: value for key, value in bounds.items() if value is not None}}
    return {"type": "string", "pattern": "^[^/]+$"}


def _platform_errors(
    operation: Operation,
    security: list[dict[str, list[str]]] | None,
    parameters: list[dict[str, Any]],
    method: str,
) -> set[int]:
    """The statuses the platform itself can answer a view with, whatever the view documents (issue 17):
    a guarded view 400 (a malformed Authorization header), 401 and 403; a JSON body 400, 413 (over
    MAX_CONTENT_LENGTH) and 415; a path parameter 404 (nothing by that name, or not of the route's form);
    an unsafe method 415 too: the gateway refuses one not declared JSON (its CSRF defence)."""
    statuses: set[int] = set()
    if security:
        statuses |= {400, 401, 403}
    if operation.request is not None:
        statuses |= {400, 413, 415}
    if parameters:
        statuses.add(404)
    if operation.query is not None:
        statuses.add(400)
    if method in ("POST", "PUT", "PATCH", "DELETE"):
        statuses.add(415)
    return statuses


def build_openapi(app: Flask, *, title: str, version: str) -> dict[str, Any]:
    spec = APISpec(title=title, version=version, openapi_version="3.1.0", plugins=[MarshmallowPlugin()])
    spec.components.schema(
        "Error",
        {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message", "fields"],
                    "properties": {
                        "code": {"type": "string"},
                        "message": {"type": "string"},
                        "fields": {"type": "object"},
                    },
                }
            },
        },
    )
    error_ref = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    paths: dict[str, dict[str, Any]] = {}
    uses_bearer = False
    for rule in app.url_map.iter_rules():
        view = app.view_functions.get(rule.endpoint)
        operation: Operation | None = getattr(view, "_polis_operation", None)
        if operation is None:
            continue
        # <name>, <uuid:name>, <int(max=2147483647):name> -> {name}
        path = _ROUTE_ARGUMENT.sub(r"{\1}", rule.rule)
        converters = getattr(rule, "_converters", {})
        parameters = [
            {
                "name": argument,
                "in": "path",
                "required": True,
                "schema": _path_schema(converters.get(argument)),
            }
            for argument in sorted(rule.arguments)
        ]
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            responses: dict[str, Any] = {}
            if operation.response is not None:
                responses[str(operation.status)] = {
                    "description": "OK",
                    "content": {"application/json": {"schema": operation.response}},
                }
            else:
                responses[str(operation.status)] = {"description": "OK"}
            if operation.links:
                responses[str(operation.status)]["links"] = {
                    name: {"operationRef": _operation_ref(link_method, link_path), "parameters": values}
                    for name, (link_method, link_path, values) in operation.links.items()
                }
            # Views guarded by polis.auth name the bearer token and the scope they need.
            security = getattr(view, "_polis_security", None)
            for status in sorted(
                set(operation.errors) | _platform_errors(operation, security, parameters, method)
            ):
                responses[str(status)] = {"description": _HTTP_CODES.get(status, "error"), **error_ref}
            if parameters or operation.query is not None:
                # gunicorn refuses a request line over 4094 bytes itself, before the app: its own HTML page.
                responses["414"] = {"description": "uri_too_long: the request line is over 4094 bytes"}
            entry: dict[str, Any] = {"summary": operation.summary, "responses": responses}
            if security:
                entry["security"] = security
                uses_bearer = True
            if operation.tags:
                entry["tags"] = list(operation.tags)
            if operation.description:
                entry["description"] = operation.description
            query = [{"in": "query", "schema": operation.query}] if operation.query is not None else []
            if parameters or query:
                entry["parameters"] = [*parameters, *query]
            if operation.request is not None:
                entry["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": operation.request}},
                }
            paths.setdefault(path, {})[method.lower()] = entry
    if uses_bearer:
        spec.components.security_scheme(
            "bearer",
            {"type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": "IAM access token"},
        )
    for path, operations in sorted(paths.items()):
        spec.path(path=path, operations=operations)
    return spec.to_dict()


# --- registration ---------------------------------------------------------------------------------------


def register_platform(
    app: Flask,
    *,
    service: str,
    version: str,
    readiness: Mapping[str, ReadinessCheck] | None = None,
    trust_request_id: bool = True,
) -> None:
    """Attach request ids, the JSON error shape, /healthz, /readyz, /metrics and /openapi.json to app."""
    # Flask's own default is None (no limit): only an explicit setting may lift the 1 MiB bound.
    if app.config.get("MAX_CONTENT_LENGTH") is None:
        app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    app.json.sort_keys = False  # type: ignore[attr-defined]
    register_request_layer(app, service=service, trust_request_id=trust_request_id)
    _register_error_handlers(app)
    _register_health(app, service, version, dict(readiness or {}))
    _register_openapi(app, service, version)


class RequestMetrics:
    """What the request layer counts per request: `http_requests_total` and `http_request_duration_seconds`
    labelled by service, method, endpoint (the route template) and status. An app with metrics of its own
    names (the gateway's) passes a subclass to register_request_layer."""

    # The labelled series by (method, endpoint, status), looked up once: labels() builds its key and takes
    # its lock on every call. Bounded, as methods come from clients: past it, labels() as before.
    CACHED_SERIES = 512

    def __init__(self, service: str) -> None:
        self.service = service
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, *, method: str, endpoint: str, status: int, seconds: float) -> None:
        key = (method, endpoint, status)
        series = self._series.get(key)
        if series is None:
            series = (
                REQUESTS.labels(self.service, method, endpoint, str(status)),
                LATENCY.labels(self.service, endpoint),
            )
            if len(self._series) < self.CACHED_SERIES:
                self._series[key] = series
        series[0].inc()
        series[1].observe(seconds)


# A WSGI layer below the request layer that answers without Flask (the gateway's API proxy) names the
# request's endpoint for the metrics here; for Flask's own requests it is the matched rule.
ENDPOINT_KEY = "polis.endpoint"


def register_request_layer(
    app: Flask, *, service: str, trust_request_id: bool = True, metrics: RequestMetrics | None = None
) -> None:
    """Wrap app (and every WSGI layer already around it) in the request layer: a request id bound for the
    whole request, X-Request-ID and (for /api/) Cache-Control on the answer, the access line, the metrics.

    trust_request_id=False at the public edge: an incoming X-Request-ID comes from the outside world and is
    replaced by a fresh id; services behind the edge adopt the caller's (well-formed) id."""
    app.wsgi_app = _RequestBookkeeping(  # type: ignore[method-assign]
        app.wsgi_app, service, trust_request_id, metrics or RequestMetrics(service)
    )

    @app.teardown_request
    def _note_rule(_exc: BaseException | None) -> None:
        # The matched rule names the request in the metrics; the request context is gone once Flask returns.
        rule = request.url_rule
        if rule is not None:
            request.environ[ENDPOINT_KEY] = rule.rule


def wrap_below_request_layer(app: Flask, wrap: Callable[[Any], Any]) -> None:
    """Put a WSGI layer between the request layer and Flask (register_request_layer first): what it
    answers itself, without Flask's dispatch, still gets the request id, the access line and the metrics
    (it names the request's endpoint in environ[ENDPOINT_KEY]). IAM's token endpoint is one."""
    layer = app.wsgi_app
    if not isinstance(layer, _RequestBookkeeping):
        raise RuntimeError("wrap_below_request_layer: the app has no request layer outermost")
    layer.wsgi_app = wrap(layer.wsgi_app)


class _RequestBookkeeping:
    """What every request gets, around Flask rather than in its hooks (which cost a small request more than
    its view): a request id bound for the whole request, X-Request-ID and (for /api/) Cache-Control on the
    answer, the access line, and the request metrics."""

    def __init__(self, wsgi_app: Any, service: str, trust_request_id: bool, metrics: RequestMetrics) -> None:
        self.wsgi_app = wsgi_app
        self.service = service
        self.trust_request_id = trust_request_id
        self.metrics = metrics

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        incoming = environ.get(_REQUEST_ID_KEY) if self.trust_request_id else None
        request_id = incoming if isinstance(incoming, str) and requestid.is_valid(incoming) else None
        request_id = request_id or requestid.new_request_id()
        bound = requestid.bind_token(request_id)
        started = time.perf_counter()
        path = _decoded_path(environ)
        api = path.startswith("/api/")
        answered: list[str] = []

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            answered.append(status)
            headers[:] = [(name, value) for name, value in headers if name.lower() != "x-request-id"]
            headers.append((requestid.HEADER, request_id))
            # Personal data, secrets shown once, tokens: no API answer is kept by a browser or a proxy.
            if api and not any(name.lower() == "cache-control" for name, _ in headers):
                headers.append(("Cache-Control", "no-store"))
            return start_response(status, headers, exc_info)

        try:
            return self.wsgi_app(environ, start)
        finally:
            elapsed = time.perf_counter() - started
            status = int(answered[-1][:3]) if answered else 500
            endpoint = environ.pop(ENDPOINT_KEY, None) or "unmatched"
            method = environ.get("REQUEST_METHOD", "GET")
            self.metrics.observe(method=method, endpoint=endpoint, status=status, seconds=elapsed)
            log_request(
                access_log, method=method, path=path, status=status, duration_ms=round(elapsed * 1000, 1)
            )
            requestid.unbind_token(bound)


_REQUEST_ID_KEY = "HTTP_" + requestid.HEADER.upper().replace("-", "_")


def _decoded_path(environ: dict[str, Any]) -> str:
    # As Flask's request.path has it: WSGI hands the path over as latin-1 characters of the UTF-8 bytes.
    raw = environ.get("PATH_INFO") or ""
    path = raw.encode("latin-1").decode("utf-8", "replace") if not raw.isascii() else raw
    return "/" + path.lstrip("/")


def _register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> tuple[Response, int]:
        return jsonify(exc.to_dict()), exc.status

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> tuple[Response, int]:
        status = exc.code or 500
        message = exc.description if status < 500 else "The service could not complete the request."
        response = jsonify(error_body(_HTTP_CODES.get(status, "http_error"), str(message)))
        if status == 405 and exc.valid_methods:  # type: ignore[attr-defined]
            response.headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
        return response, status

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> tuple[Response, int]:
        log.exception("unhandled error")
        return jsonify(error_body("internal_error", "The service could not complete the request.")), 500


def _register_health(app: Flask, service: str, version: str, checks: dict[str, ReadinessCheck]) -> None:
    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify(status="ok", service=service, version=version)

    @app.get("/readyz")
    def readyz() -> tuple[Response, int]:
        results: dict[str, str] = {}
        ready = True
        for name, check in checks.items():
            try:
                check()
                results[name] = "ok"
            except Exception as exc:  # any failure means "not ready"; the reason goes to the log
                ready = False
                results[name] = "unavailable"
                log.warning("readiness check failed", extra={"check": name, "error": str(exc)})
        body = {"status": "ready" if ready else "not_ready", "service": service, "checks": results}
        return jsonify(body), 200 if ready else 503

    @app.get("/metrics")
    def metrics() -> Response:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            payload = generate_latest(registry)
        else:
            payload = generate_latest()
        return Response(payload, mimetype=CONTENT_TYPE_LATEST)


def _register_openapi(app: Flask, service: str, version: str) -> None:
    @app.get("/openapi.json")
    def openapi() -> Response:
        document = app.extensions.get("polis.openapi")
        if document is None:
            document = build_openapi(app, title=f"Polis {service} API", version=version)
            app.extensions["polis.openapi"] = document
        return jsonify(document)
