"""/api/<service>/...: a plain WSGI layer in front of Flask that forwards API calls to the services.

The JSON API needs none of what Flask gives the pages (sessions, CSRF tokens, templates, locales), and the
gateway sits on the path of every call, so it answers /api/ below Flask: the same rules as the pages
(security headers, rate limit, the JSON error shape), in a fraction of the time; the request id, the access
line and the metrics come from polis.web's request layer around both. Everything else goes on to Flask.

A call that comes with the portal's session cookie and no Authorization header of its own is sent with the
session user's access token (gateway/auth/forwarding.py: same-origin rules for unsafe methods, refresh);
a call without the cookie does no session work at all.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from limits import RateLimitItem, parse_many
from polis import requestid
from polis.errors import error_body
from polis.web import ENDPOINT_KEY

from gateway import stepup
from gateway.api.connections import (
    ConnectionPools,
    Origin,
    UpstreamResponse,
    UpstreamTimeout,
    UpstreamUnreachable,
)
from gateway.auth.forwarding import PortalBearer
from gateway.auth.tokens import StoreUnavailable
from gateway.errors import STORE_RETRY_AFTER
from gateway.platform import UPSTREAM_ERRORS
from gateway.security import security_headers
from gateway.stepup import CredentialGuard

log = logging.getLogger("gateway.access")

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

PREFIX = "/api/"
ROUTE = "/api/<service>/<path:rest>"  # the metrics label: bounded, whatever the paths
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
# Never passed on from the browser: the gateway sets its own, or the service must not see them (the
# portal's cookies; request ids and client addresses the outside world could forge).
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
# Server/Date are the gateway's own; X-Request-ID is set once by the edge; no CORS grant ever passes.
RESPONSE_DROPPED = frozenset({"server", "date", "x-request-id"})
# Calls that check a captcha, a password or a codice fiscale, or send an email: the per-address credential
# bands (gateway/stepup.py, GATEWAY_RATELIMIT_AUTHENTICATION*), shared with the matching forms of IAM's
# pages. The steps in the middle of a registration are bound to its token and are not counted.
CREDENTIAL_CALLS = frozenset(
    {
        "/api/iam/v1/registrations",
        "/api/iam/v1/registrations/current/submit",
        "/api/iam/v1/registrations/activation",
        "/api/iam/v1/recovery/username",
        "/api/iam/v1/recovery/password",
        "/api/iam/v1/me/password",
        "/api/iam/v1/me/email",
    }
)
# Ops-only parts of the services' APIs: refused at the public edge, reachable on the internal network
# (issue 11 item 7, issue 13 item 7). Matched on the path's segments after /api/<service>/, empty and dot
# segments taken out first (/api/iam//v1/ops/audit is /api/iam/v1/ops/audit to a service).
INTERNAL_SEGMENTS = frozenset({"ops", "metrics", "openapi.json"})
INTERNAL_PREFIXES = (("notifier", "deliveries"),)
TIMEOUT_MESSAGE = "The service did not answer in time: please try again shortly."
UNAVAILABLE_MESSAGE = "The service is not available at the moment: please try again shortly."

_STATUS_TEXT = {
    400: "400 Bad Request",
    404: "404 Not Found",
    413: "413 Payload Too Large",
    415: "415 Unsupported Media Type",
    429: "429 Too Many Requests",
    503: "503 Service Unavailable",
    504: "504 Gateway Timeout",
}


class ApiProxy:
    """WSGI middleware: /api/<service>/... forwarded to the service, anything else to `app`."""

    def __init__(
        self,
        app: WsgiApp,
        config: dict[str, Any],
        bearer: PortalBearer | None = None,
        guard: CredentialGuard | None = None,
    ) -> None:
        self.app = app
        self.bearer = bearer
        self.guard = guard if config["RATELIMIT_ENABLED"] else None
        self.origins = {name: Origin.parse(url) for name, url in config["GATEWAY_SERVICES"].items()}
        self.max_body = int(config["MAX_CONTENT_LENGTH"])
        self.pools = ConnectionPools(
            connect_timeout=config["GATEWAY_CONNECT_TIMEOUT"],
            read_timeout=config["GATEWAY_READ_TIMEOUT"],
            max_idle_seconds=config["GATEWAY_UPSTREAM_MAX_IDLE"],
        )
        self.security_headers = security_headers(hsts=config["GATEWAY_SECURE_COOKIES"])
        self.limits = parse_many(config["RATELIMIT_DEFAULT"]) if config["RATELIMIT_ENABLED"] else []
        storage_uri = config["RATELIMIT_STORAGE_URI"]
        self.limiter: stepup.Windows | LocalWindows | None = None
        if self.limits:
            # memory:// (dev and tests only: config.py requires a shared store in production) is counted
            # here; limits' MemoryStorage starts a timer thread every few milliseconds under load. The
            # shared store falls back to per-process counting while it does not answer (stepup.Windows).
            self.limiter = (
                LocalWindows()
                if storage_uri.startswith("memory://")
                else stepup.Windows(storage_uri, timeout=config["GATEWAY_CONNECT_TIMEOUT"])
            )
        self.key_prefix = f"{config['RATELIMIT_KEY_PREFIX']}/api"

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if not path.startswith(PREFIX):
            return self.app(environ, start_response)
        # The request layer around this one (polis.web's) bound the edge's request id, writes the access
        # line and counts the call under this route.
        environ[ENDPOINT_KEY] = ROUTE
        request_id = requestid.current_request_id() or requestid.new_request_id()
        try:
            status, headers, body = self._forward(environ, environ["REQUEST_METHOD"], path, request_id)
        except _Refused as refused:
            status, headers, body = refused.answer()
        headers.extend(self.security_headers)
        start_response(status, headers)
        return body

    def _forward(
        self, environ: dict[str, Any], method: str, path: str, request_id: str
    ) -> tuple[str, list[tuple[str, str]], Iterable[bytes]]:
        service, slash, _rest = path[len(PREFIX) :].partition("/")
        origin = self.origins.get(service) if slash else None
        if origin is None or internal_only(service, _rest):
            raise _Refused(404, "not_found", f"There is no API at {path}.")
        self._check_rate(environ)
        body = self._body(environ, method)
        headers = self._request_headers(environ, request_id)
        cookies: list[tuple[str, str]] = []
        if self.bearer is not None and self.bearer.wanted(environ):
            cookies = self._attach_session_token(environ, method, headers)
        try:
            response = self.pools.request(origin, method, target(environ), headers, body)
        except UpstreamTimeout:
            self._failed(service, "read_timeout")
            raise _Refused(504, "service_unavailable", TIMEOUT_MESSAGE, extra_headers=cookies) from None
        except UpstreamUnreachable:
            self._failed(service, "unreachable")
            raise _Refused(503, "service_unavailable", UNAVAILABLE_MESSAGE, extra_headers=cookies) from None
        answer_headers = response_headers(response) + cookies
        return f"{response.status} {response.reason}", answer_headers, _Body(self.pools, response)

    def _attach_session_token(
        self, environ: dict[str, Any], method: str, headers: dict[str, str]
    ) -> list[tuple[str, str]]:
        """Authorization from the portal session, when it applies; the Set-Cookie headers to answer with."""
        assert self.bearer is not None
        try:
            token, cookies = self.bearer.token_for(environ, method)
        except StoreUnavailable as error:  # fail closed: a session that cannot be read is not honoured
            log.warning("portal session not readable, call refused: %s", error)
            raise _Refused(
                503,
                "service_unavailable",
                UNAVAILABLE_MESSAGE,
                extra_headers=[("Retry-After", STORE_RETRY_AFTER), ("Cache-Control", "no-store")],
            ) from None
        except Exception:  # an IAM failure must not fail the call: it goes on without the token
            log.exception("the session's access token could not be attached")
            return []
        if token:
            headers["Authorization"] = f"Bearer {token}"
            # The answer now depends on the cookie: no shared cache may give it to another user.
            cookies.append(("Vary", "Cookie"))
        return cookies

    def _check_rate(self, environ: dict[str, Any]) -> None:
        if self.limiter is None:
            return
        key = environ.get("REMOTE_ADDR") or "unknown"
        for limit in self.limits:
            if not self.limiter.hit(limit, self.key_prefix, key):
                reset = self.limiter.reset_time(limit, self.key_prefix, key)
                retry_after = max(1, int(reset - time.time()))
                raise _Refused(
                    429,
                    "too_many_requests",
                    "Too many requests from this address: please wait and try again.",
                    extra_headers=[("Retry-After", str(retry_after))],
                )
        path = environ.get("PATH_INFO", "").rstrip("/")
        if self.guard is not None and environ["REQUEST_METHOD"] in UNSAFE and path in CREDENTIAL_CALLS:
            decision = self.guard.attempt(key, environ.get(stepup.ENVIRON_HEADER))
            if decision.band == "blocked":
                raise _Refused(
                    429,
                    "too_many_requests",
                    stepup.BLOCKED_MESSAGE,
                    extra_headers=[("Retry-After", str(decision.retry_after))],
                )
            if decision.band == "step_up":
                raise _Refused(429, "proof_of_work_required", stepup.STEP_UP_MESSAGE)

    def _body(self, environ: dict[str, Any], method: str) -> bytes | None:
        mimetype = (environ.get("CONTENT_TYPE") or "").split(";", 1)[0].strip().lower()
        if method in UNSAFE and mimetype != "application/json":
            # The JSON API's CSRF defence: a cross-site form cannot send JSON without a preflight.
            raise _Refused(415, "unsupported_media_type", "Send the request body as application/json.")
        declared = environ.get("CONTENT_LENGTH")
        if declared:
            try:
                length = int(declared)
            except ValueError:
                raise _Refused(400, "bad_request", "The Content-Length header is not a number.") from None
            if length > self.max_body:
                raise _Refused(413, "payload_too_large", "The request body is too large.")
            data = environ["wsgi.input"].read(length) if length else b""
        elif environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked":
            data = environ["wsgi.input"].read(self.max_body + 1)
            if len(data) > self.max_body:
                raise _Refused(413, "payload_too_large", "The request body is too large.")
        else:
            data = b""
        if not data:
            return None
        if mimetype == "application/json":
            # Refused here, in the platform's error shape, instead of travelling to the service.
            try:
                json.loads(data)
            except ValueError:
                raise _Refused(400, "malformed_json", "The request body is not valid JSON.") from None
        return data

    @staticmethod
    def _request_headers(environ: dict[str, Any], request_id: str) -> dict[str, str]:
        listed = {h.strip().lower() for h in environ.get("HTTP_CONNECTION", "").split(",")}
        headers: dict[str, str] = {}
        for key, value in environ.items():
            if not key.startswith("HTTP_"):
                continue
            lowered = key[5:].lower().replace("_", "-")
            if lowered in HOP_BY_HOP or lowered in REQUEST_DROPPED or lowered in listed:
                continue
            headers[lowered.title()] = value
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        headers[requestid.HEADER] = request_id
        # REMOTE_ADDR and the scheme are already corrected by ProxyFix, for the trusted proxies only.
        headers["X-Forwarded-For"] = environ.get("REMOTE_ADDR", "")
        headers["X-Forwarded-Proto"] = environ.get("wsgi.url_scheme", "http")
        return headers

    @staticmethod
    def _failed(service: str, kind: str) -> None:
        UPSTREAM_ERRORS.labels(service, kind).inc()
        log.warning("service %s failed: %s", service, kind)


def internal_only(service: str, rest: str) -> bool:
    """True for the ops APIs, the notifier's deliveries, metrics and API documents: not for the public."""
    segments: list[str] = []
    for segment in rest.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if segments:
                segments.pop()
            continue
        segments.append(segment.lower())
    if INTERNAL_SEGMENTS.intersection(segments):
        return True
    # /api/notifier/v1/deliveries: the version segment first, then the area.
    return any(service == owner and area in segments[:2] for owner, area in INTERNAL_PREFIXES)


class LocalWindows:
    """Fixed-window counters in this process, with the two methods of limits' rate limiter used here."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, str, str], tuple[float, int]] = {}

    def hit(self, limit: RateLimitItem, prefix: str, key: str) -> bool:
        now = time.time()
        span = limit.get_expiry()
        slot = (prefix, key, str(limit))
        with self._lock:
            start, count = self._windows.get(slot, (now, 0))
            if now - start >= span:
                start, count = now, 0
            if len(self._windows) > 100_000:  # forget finished windows now and then
                self._windows = {k: v for k, v in self._windows.items() if now - v[0] < span}
            if count >= limit.amount:
                self._windows[slot] = (start, count)
                return False
            self._windows[slot] = (start, count + 1)
            return True

    def reset_time(self, limit: RateLimitItem, prefix: str, key: str) -> float:
        start, _count = self._windows.get((prefix, key, str(limit)), (time.time(), 0))
        return start + limit.get_expiry()


class _Refused(Exception):
    """An answer the gateway gives itself, in the JSON error shape."""

    def __init__(
        self, status: int, code: str, message: str, extra_headers: list[tuple[str, str]] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra_headers = extra_headers or []

    def answer(self) -> tuple[str, list[tuple[str, str]], Iterable[bytes]]:
        payload = json.dumps(error_body(self.code, self.message)).encode()
        headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(payload))),
            *self.extra_headers,
        ]
        return _STATUS_TEXT.get(self.status, f"{self.status} Error"), headers, [payload]


class _Body:
    """The service's response body, streamed; the connection goes back to the pool once it is all read."""

    def __init__(self, pools: ConnectionPools, response: UpstreamResponse) -> None:
        self.pools = pools
        self.response = response
        self.done = False

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self.response.iter_body()
        except (OSError, UpstreamUnreachable):
            # The headers are sent already: all that is left is to cut the answer short.
            self._finish(reusable=False)
            raise
        self._finish(reusable=True)

    def close(self) -> None:
        # Called by the server after the last chunk, or early when the client went away.
        self._finish(reusable=False)

    def _finish(self, *, reusable: bool) -> None:
        if not self.done:
            self.done = True
            self.pools.release(self.response, reusable=reusable)


def response_headers(response: UpstreamResponse) -> list[tuple[str, str]]:
    """The service's headers that may reach the browser."""
    listed = {h.strip().lower() for h in (response.header("Connection") or "").split(",")}
    origin = response.connection.origin
    return [
        (name, public_location(value, origin) if lowered == "location" else value)
        for name, value in response.headers
        if (lowered := name.lower()) not in HOP_BY_HOP
        and lowered not in RESPONSE_DROPPED
        and lowered not in listed
        and not lowered.startswith("access-control-")
    ]


def public_location(value: str, origin: Origin) -> str:
    """A redirect to the service's own internal address made relative: the gateway never passes an internal
    address out (a trailing-slash 308 named http://127.0.0.1:8101/...). Other absolute URLs stay."""
    parts = urlsplit(value)
    if (
        parts.scheme in ("http", "https")
        and parts.hostname == origin.host
        and (parts.port or 80) == origin.port
    ):
        return urlunsplit(("", "", parts.path or "/", parts.query, parts.fragment))
    return value


def target(environ: dict[str, Any]) -> str:
    """The request target as the browser sent it, when the server keeps it (gunicorn's RAW_URI); otherwise
    PATH_INFO encoded again. PATH_INFO holds the decoded bytes as latin-1 characters (PEP 3333), so they are
    encoded back as such: "città" arrives as UTF-8 bytes and leaves as the same %C3%A0. (An encoded slash,
    %2F, is a plain slash by then: no API path relies on one.)"""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw and raw.startswith("/"):
        return str(raw)
    target = quote(environ.get("PATH_INFO", ""), safe="/:@!$&'()*+,;=~", encoding="latin-1")
    query = environ.get("QUERY_STRING")
    return f"{target}?{query}" if query else target
