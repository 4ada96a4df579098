"""The gateway's request layer (polis.web's, with its own metric names and no trust in an incoming request
id), /healthz, /readyz and /metrics (gateway-local: its errors may be HTML pages, so not polis.web's)."""

from __future__ import annotations

import os

from flask import Flask, Response, jsonify, request
from polis.web import RequestMetrics
from polis.web import register_request_layer as register_polis_request_layer
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

from gateway.api.connections import ConnectionPools, Origin, UpstreamTimeout, UpstreamUnreachable

REQUESTS = Counter("gateway_requests_total", "Requests answered", ["method", "route", "status"])
LATENCY = Histogram("gateway_request_seconds", "Time to answer a request", ["method", "route"])
UPSTREAM_ERRORS = Counter("gateway_upstream_errors_total", "Failed calls to a service", ["service", "kind"])

# /readyz?services=1 asks each service's /healthz on a connection of its own, with short timeouts.
_PROBES = ConnectionPools(connect_timeout=0.5, read_timeout=1.0, max_idle_seconds=0)


class GatewayMetrics(RequestMetrics):
    """gateway_requests_total and gateway_request_seconds by method, route template and status; each series
    looked up once, as polis.web's RequestMetrics does (labels() builds its key and takes its lock on every
    call; bounded, as methods come from clients: past it, labels() as before)."""

    def observe(self, *, method: str, endpoint: str, status: int, seconds: float) -> None:
        key = (method, endpoint, status)
        series = self._series.get(key)
        if series is None:
            series = (REQUESTS.labels(method, endpoint, str(status)), LATENCY.labels(method, endpoint))
            if len(self._series) < self.CACHED_SERIES:
                self._series[key] = series
        series[0].inc()
        series[1].observe(seconds)


def register_request_layer(app: Flask) -> None:
    """polis.web's request layer around everything (the API proxy included): the gateway is the public edge,
    so an incoming X-Request-ID comes from the outside world and is replaced by a fresh id."""
    register_polis_request_layer(
        app, service="gateway", trust_request_id=False, metrics=GatewayMetrics("gateway")
    )


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
    try:
        answer = _PROBES.request(Origin.parse(base_url), "GET", "/healthz", {}, None)
    except (UpstreamTimeout, UpstreamUnreachable, ValueError):
        return "unreachable"
    _PROBES.release(answer, reusable=False)  # a probe now and then: no connection is kept for it
    return "up" if answer.status == 200 else f"status {answer.status}"


def exempt_platform_routes(app: Flask) -> None:
    """Probes and scrapes are neither rate limited nor CSRF-relevant."""
    from gateway.extensions import limiter

    for endpoint in ("healthz", "readyz", "metrics"):
        limiter.exempt(app.view_functions[endpoint])
