"""The gateway's web server: `gateway-web` runs the app on Granian, a Rust HTTP server.

The gateway is the edge: every public request crosses it, and most of its time is spent waiting for a
service. Granian does the HTTP work (connections, parsing, keep-alive) in Rust and hands each request to a
pool of Python threads, which costs the gateway 35-45% less CPU per proxied call than gunicorn's
gthread worker (docs/architecture.md, "The gateway's server"). The services keep gunicorn.

Settings (environment):
  GATEWAY_BIND              host:port to listen on (0.0.0.0:8080)
  GATEWAY_WORKERS           processes (2)
  GATEWAY_THREADS           Python threads per process, i.e. calls in progress at once (8)
  GATEWAY_GRACEFUL_TIMEOUT  seconds a stopping worker may finish its requests before it is killed (20)
  GATEWAY_MAX_CONNECTIONS   connections each process accepts at once, idle keep-alive ones included (512)
  GATEWAY_HEADER_TIMEOUT    seconds a connection may take to send a request's headers, and may stay idle
                            between two requests, before it is closed (5)

Granian's backpressure counts accepted connections, not requests in progress (granian#789): tied to the
threads, eight idle connections stopped the portal. The connections are sized for traffic instead (the
threads still bound the calls in progress: a request past them waits in Granian's queue), and the header
timeout frees the slot of a client that sends nothing or sends it slowly (slowloris).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from typing import Any

from granian import Granian
from granian.constants import HTTPModes, Interfaces
from granian.http import HTTP1Settings
from polis.logging import configure_logging

StartResponse = Callable[..., Any]
DEFAULT_BACKLOG = 1024
MAX_HEADER_TIMEOUT = 60  # Granian's ceiling (60 000 ms)
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class WithoutProcessEnvironment:
    """Granian, like CGI, copies the process environment into every request's WSGI environ: the gateway's
    secrets would travel with each request, and a variable named like a header (HTTP_PROXY) would pass for
    one the browser sent. This takes them out again before the app sees the request."""

    def __init__(self, app: WsgiApp, inherited: dict[str, str] | None = None) -> None:
        self.app = app
        self.inherited = tuple((inherited if inherited is not None else os.environ).items())

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        for key, value in self.inherited:
            # The request's own value (a header that happens to share a variable's name) stays.
            if environ.get(key) == value:
                del environ[key]
        return self.app(environ, start_response)


class IntendedThreads(logging.Filter):
    """Granian warns at every start when a process has more threads than about two per core. A proxy's
    threads spend their time waiting for the services: that is the point of them, not a mistake."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Configuration allows spawning up to")


def app() -> WsgiApp:
    """What each worker process serves (Granian calls this factory once per worker)."""
    from gateway import create_app

    return WithoutProcessEnvironment(create_app())


def server_settings(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Granian's arguments from the GATEWAY_* settings."""
    env = os.environ if environ is None else environ
    # All interfaces by default: in its container the gateway is what the ingress talks to.
    host, _, port = env.get("GATEWAY_BIND", "0.0.0.0:8080").rpartition(":")
    threads = int(env.get("GATEWAY_THREADS", "8"))
    connections = int(env.get("GATEWAY_MAX_CONNECTIONS", "512"))
    header_timeout = float(env.get("GATEWAY_HEADER_TIMEOUT", "5"))
    if connections < threads or not 0 < header_timeout <= MAX_HEADER_TIMEOUT:
        raise ValueError(
            "GATEWAY_MAX_CONNECTIONS must be at least GATEWAY_THREADS and GATEWAY_HEADER_TIMEOUT between 0 "
            f"and {MAX_HEADER_TIMEOUT} seconds"
        )
    return {
        "address": host.strip("[]") or "0.0.0.0",  # noqa: S104
        "port": int(port),
        "workers": int(env.get("GATEWAY_WORKERS", "2")),
        "blocking_threads": threads,
        # Granian's backpressure bounds accepted connections (idle keep-alive ones too), not requests: sized
        # for traffic. Requests past the threads wait in Granian's queue, not in more Python threads.
        "backpressure": connections,
        # The kernel's queue of connections not yet accepted: room for every process's share and more.
        "backlog": max(DEFAULT_BACKLOG, 2 * connections),
        # Hyper's header read timeout also runs while a keep-alive connection waits for its next request:
        # an idle or slow client gives its slot back after it.
        "http1_settings": HTTP1Settings(header_read_timeout=round(header_timeout * 1000)),
        "workers_kill_timeout": int(env.get("GATEWAY_GRACEFUL_TIMEOUT", "20")),
    }


def main() -> None:
    configure_logging(service="gateway")
    Granian(
        "gateway.server:app",
        factory=True,
        interface=Interfaces.WSGI,
        http=HTTPModes.http1,  # TLS and HTTP/2 end at the ingress in front
        websockets=False,
        respawn_failed_workers=True,
        # Granian's own lines (start, workers, errors) go through the root logger: JSON like every other.
        log_dictconfig={
            "filters": {"intended_threads": {"()": IntendedThreads}},
            "loggers": {"_granian": {"handlers": [], "propagate": True, "filters": ["intended_threads"]}},
        },
        log_access=False,  # the app writes one JSON access line per request, with its request id
        **server_settings(),
    ).serve()


if __name__ == "__main__":
    main()
