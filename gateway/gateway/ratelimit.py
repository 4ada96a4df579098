"""The pages' per-address rate limits: the same rules Flask-Limiter applied, with the limits parsed once.

Every page request is counted per address and per endpoint (each page apart) against RATELIMIT_DEFAULT; a
view marked with `limiter.limit("RATELIMIT_...")` has that limit instead (the OAuth token endpoints and the
back-channel logout: RATELIMIT_TOKEN_ENDPOINTS), a view marked with `limiter.exempt` none (the probes), and
neither unmatched requests (404) nor static files are counted. Beyond a limit the answer is the readable
429 page with the real wait and Retry-After (gateway/errors.py).

Flask-Limiter did this with a parse of the limits from their callables, its exemption and scope machinery,
a second storage read for its X-RateLimit-* headers and (memory://) a new timer thread on every request:
about 2.6 ms per login (issue 18). Here the limits are parsed once per app and counted in the same windows
as the /api/ limits and the credential bands (gateway/stepup.py's Windows: this process's own counters for
memory://, else the shared store, failing open to per-process counting while it does not answer).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, current_app, g, request
from limits import RateLimitItem, parse_many
from werkzeug.exceptions import TooManyRequests

from gateway.stepup import Windows

log = logging.getLogger("gateway.ratelimit")

F = TypeVar("F", bound=Callable[..., Any])
EXTENSION = "gateway.page_limits"
ATTRIBUTE = "_gateway_rate_limit"  # on a view function: the config key of its limit, or "" for exempt
EXEMPT = ""


class RateLimited(TooManyRequests):
    """A page request over one of its limits; `reset_at` (epoch seconds) is when that window ends."""

    def __init__(self, reset_at: float) -> None:
        super().__init__()
        self.reset_at = reset_at

    def seconds_left(self) -> int:
        return max(1, math.ceil(self.reset_at - time.time()))


class PageLimits:
    """One app's page limits: parsed once, resolved once per endpoint."""

    def __init__(self, app: Flask) -> None:
        config = app.config
        self.app = app
        self.enabled = bool(config["RATELIMIT_ENABLED"])
        self.default: tuple[RateLimitItem, ...] = (
            tuple(parse_many(config["RATELIMIT_DEFAULT"])) if self.enabled else ()
        )
        self.windows = Windows(
            config["RATELIMIT_STORAGE_URI"], timeout=float(config.get("GATEWAY_CONNECT_TIMEOUT", 2.0))
        )
        self.prefix = f"{config['RATELIMIT_KEY_PREFIX']}/pages"
        self._parsed: dict[str, tuple[RateLimitItem, ...]] = {}
        self._by_endpoint: dict[str, tuple[RateLimitItem, ...]] = {}

    def limits_for(self, endpoint: str) -> tuple[RateLimitItem, ...]:
        limits = self._by_endpoint.get(endpoint)
        if limits is None:
            limits = self._by_endpoint[endpoint] = self._resolve(endpoint)
        return limits

    def _resolve(self, endpoint: str) -> tuple[RateLimitItem, ...]:
        if not self.enabled or endpoint == "static" or endpoint.endswith(".static"):
            return ()
        view = self.app.view_functions.get(endpoint)
        key = getattr(view, ATTRIBUTE, None)
        if key is None:
            return self.default
        if key == EXEMPT:
            return ()
        parsed = self._parsed.get(key)
        if parsed is None:
            parsed = self._parsed[key] = tuple(parse_many(self.app.config[key]))
        return parsed

    def check(self) -> None:
        """Count this request; raises RateLimited when it is over one of its endpoint's limits."""
        endpoint = request.endpoint
        if not endpoint:
            return  # nothing matched (a 404): not counted, as Flask-Limiter did not
        limits = self.limits_for(endpoint)
        if not limits:
            return
        address = request.remote_addr or "127.0.0.1"
        prefix = f"{self.prefix}/{endpoint}"
        for limit in limits:
            if not self.windows.hit(limit, prefix, address):
                log.info("rate limit %s exceeded at %s", limit, endpoint)
                refused = RateLimited(self.windows.reset_time(limit, prefix, address))
                g.rate_limited = refused
                raise refused


class PageRateLimiter:
    """The Flask extension: marks views (`limit`, `exempt`) and checks every page request (`init_app`)."""

    def limit(self, config_key: str) -> Callable[[F], F]:
        """This view is limited by the setting `config_key` (Flask-Limiter syntax) instead of the default."""

        def mark(view: F) -> F:
            setattr(view, ATTRIBUTE, config_key)
            return view

        return mark

    def exempt(self, view: F) -> F:
        setattr(view, ATTRIBUTE, EXEMPT)
        return view

    def init_app(self, app: Flask) -> None:
        limits = app.extensions[EXTENSION] = PageLimits(app)
        if limits.enabled:
            app.before_request(_check)


def _check() -> None:
    limits: PageLimits = current_app.extensions[EXTENSION]
    limits.check()


def current_refusal() -> RateLimited | None:
    """The limit this request went over, if it did (for the 429 page's wait)."""
    refused = g.get("rate_limited")
    return refused if isinstance(refused, RateLimited) else None
