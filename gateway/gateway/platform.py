"""Edge request id, request log line, /healthz, /readyz and /metrics (gateway-local: errors may be HTML)."""

from __future__ import annotations

import logging
import os
import time

import urllib3
from flask import Flask, Response, g, jsonify, request
from polis import requestid
from polis.logging import log_request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

log = logging.getLogger("gateway.access")

REQUESTS = Counter("gateway_requests_total", "Requests answered", ["method", "route", "status"])
LATENCY = Histogram("gateway_request_seconds", "Time to answer a request", ["method", "route"])
UPSTREAM_ERRORS = Counter("gateway_upstream_errors_total", "Failed calls to a service", ["service", "kind"])


def register_request_id(app: Flask) -> None:
    """A fresh id per request: an incoming X-Request-ID comes from the outside world and is not trusted."""

    @app.before_request
    def _new_request_id() -> None:
        g.request_started = time.perf_counter()
        g.request_id_scope = requestid.bind(requestid.new_request_id())
        g.request_id_scope.__enter__()

    @app.after_request
    def _finish(response: Response) -> Response:
        rid = requestid.current_request_id()
        if rid:
            response.headers[requestid.HEADER] = rid
        route = request.url_rule.rule if request.url_rule else "unmatched"
        elapsed = time.perf_counter() - g.get("request_started", time.perf_counter())
        REQUESTS.labels(request.method, route, str(response.status_code)).inc()
        LATENCY.labels(request.method, route).observe(elapsed)
        log_request(
            log,
            method=request.method,
            path=request.path,
            status=response.status_code,
            duration_ms=round(elapsed * 1000, 1),
        )
        return response

    @app.teardown_request
    def _forget_request_id(_exc: BaseException | None) -> None:
        # Threads are reused across requests (gthread): the id must not leak into the next one.
        scope = g.pop("request_id_scope", None)
        if scope is not None:
            scope.__exit__(None, None, None)


def register_health(app: Flask) -> None:
    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify(status="ok")

    @app.get("/readyz")
    def readyz() -> Response:
        # No database or broker: configured means ready. Services are probed only on request
        # (?services=1), and their state never fails the probe, so one service down keeps the site up.
        body: dict = {"status": "ready"}
        if request.args.get("services"):
            body["services"] = {name: _probe(url) for name, url in app.config["GATEWAY_SERVICES"].items()}
        return jsonify(body)

    @app.get("/metrics")
    def metrics() -> Response:
        registry = REGISTRY
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            # Several gunicorn workers: add up what every process wrote to the shared directory.
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


def _probe(base_url: str) -> str:
    from gateway.api.upstream import pool

    try:
        response = pool().request(
            "GET", f"{base_url}/healthz", timeout=urllib3.Timeout(connect=0.5, read=1.0), retries=False
        )
    except urllib3.exceptions.HTTPError:
        return "unreachable"
    return "up" if response.status == 200 else f"status {response.status}"


def exempt_platform_routes(app: Flask) -> None:
    """Probes and scrapes are neither rate limited nor CSRF-relevant."""
    from gateway.extensions import limiter

    for endpoint in ("healthz", "readyz", "metrics"):
        limiter.exempt(app.view_functions[endpoint])
