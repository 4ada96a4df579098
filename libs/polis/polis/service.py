"""Wiring every Polis service shares: common settings, Flask app shell, gunicorn settings, worker loops."""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import click
from flask import Flask, jsonify
from marshmallow import fields
from sqlalchemy import MetaData

from polis import hashing
from polis.auth import Permissions, register_token_auth, token_settings
from polis.config import Env, apply_overrides
from polis.db import Database
from polis.events import broker
from polis.events.consumer import Consumer
from polis.events.relay import Relay
from polis.logging import configure_logging
from polis.web import ApiSchema, api_doc, register_platform
from polis.worker import Loop, run_loops

# Every Database bound to an app in this process, so gunicorn's post_fork can drop pools inherited from the
# master (preload_app) without each service keeping its own list.
_databases: weakref.WeakSet[Database] = weakref.WeakSet()


# Deterministic constraint names: migrations can then drop or alter them by name on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

DemoDataLoader = Callable[[Database], str]


def service_metadata() -> MetaData:
    """A fresh MetaData for one service's tables, with the project's naming convention."""
    return MetaData(naming_convention=NAMING_CONVENTION)


def common_settings(service: str, env: Env) -> dict[str, Any]:
    """The settings every service has: environment, database, broker, log level."""
    prefix = service.upper()
    return {
        "SERVICE": service,
        "POLIS_ENV": env.name,
        "DATABASE_URL": env.database_url(service),
        "BROKER_URL": env.broker_url(),
        "LOG_LEVEL": env.str(f"{prefix}_LOG_LEVEL", env.str("POLIS_LOG_LEVEL", "INFO")),
        # Set here, not left to register_platform's setdefault: Flask's defaults already hold the key (None).
        "MAX_CONTENT_LENGTH": env.int(f"{prefix}_MAX_BODY_BYTES", 1024 * 1024),
        # Seconds before each retry of a consumed event whose handler failed; then it is parked.
        "EVENT_RETRY_DELAYS": env.delays(f"{prefix}_RETRY_DELAYS", "1,5,30,120,600"),
    }


def public_base_url(env: Env, service: str) -> str:
    """<SERVICE>_PUBLIC_BASE_URL, the public site (the gateway's address) that links in pages and emails point
    to: required in production, where a localhost default would send users links that lead nowhere."""
    default = None if env.is_production else "http://localhost:8080"
    return env.str(f"{service.upper()}_PUBLIC_BASE_URL", default).rstrip("/")


def load_settings(
    service: str,
    own: Callable[[Env], Mapping[str, Any]] | None = None,
    *,
    config: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    verifies_tokens: bool = False,
) -> dict[str, Any]:
    """Common settings plus the service's own (read by `own`), then explicit overrides (tests).

    `verifies_tokens`: the service's API trusts IAM's access tokens (polis.auth), so it needs the issuer
    and the JWKS address."""
    env = Env(environ)
    settings = common_settings(service, env)
    if verifies_tokens:
        settings.update(token_settings(env, service))
    if own is not None:
        settings.update(own(env))
    return apply_overrides(settings, config)


def create_service_app(
    import_name: str,
    *,
    settings: Mapping[str, Any],
    version: str,
    db: Database,
    demo_data: Sequence[DemoDataLoader] = (),
    permissions: Permissions | None = None,
    readiness: Mapping[str, Callable[[], None]] | None = None,
) -> Flask:
    """A Flask app with JSON logs, its database bound, the platform endpoints and the `demo-data` command.

    Readiness means "can do its work": the database answers and the broker accepts a connection, and each
    of the service's own `readiness` checks returns without raising (IAM: its signing key opens).
    With `permissions` (the service's map), its API verifies IAM's access tokens (polis.auth) and answers
    GET /api/<service>/v1/me.
    """
    service = settings["SERVICE"]
    configure_logging(service, settings["LOG_LEVEL"])
    app = Flask(import_name, static_folder=None)  # APIs only: the gateway serves the static files
    app.config.update(settings)
    db.init_app(app, settings["DATABASE_URL"])
    _databases.add(db)
    broker_url = settings["BROKER_URL"]
    register_platform(
        app,
        service=service,
        version=version,
        readiness={"database": db.ping, "broker": lambda: broker.ping(broker_url), **(readiness or {})},
    )
    _register_service_root(app, service, version)
    if permissions is not None:
        register_token_auth(app, permissions)
    _register_demo_data(app, service, db, demo_data)
    return app


class ServiceRootSchema(ApiSchema):
    service = fields.String(required=True)
    version = fields.String(required=True)


def _register_service_root(app: Flask, service: str, version: str) -> None:
    # The root of the service's API: what answers here and which version, for operators and the gateway.
    @api_doc("Which service and version answers", response=ServiceRootSchema, tags=("service",))
    def service_root() -> Any:
        return jsonify(service=service, version=version)

    app.add_url_rule(f"/api/{service}/v1/", "service_root", service_root, methods=["GET"])


def _register_demo_data(app: Flask, service: str, db: Database, loaders: Sequence[DemoDataLoader]) -> None:
    # Every service answers `flask --app <service> demo-data`, so `make run` needs no per-service cases;
    # loaders must be idempotent (it runs at every start).
    @app.cli.command("demo-data")
    def demo_data() -> None:
        """Load this service's demonstration data (idempotent)."""
        if not loaders:
            click.echo(f"{service}: no demo data to load")
        for loader in loaders:
            click.echo(f"{service}: {loader(db)}")


# --- gunicorn -------------------------------------------------------------------------------------------


def _post_fork(server: Any, _worker: Any) -> None:
    # A pooled connection inherited from the master shares its socket with it; close=False forgets it
    # without sending a goodbye that would break the master's (and the siblings') copy.
    for db in list(_databases):
        db.engine.dispose(close=False)
    # The workers share the cores: each runs its share of argon2 computations at once (polis.hashing).
    hashing.bound_concurrency(hashing.default_concurrency(processes=int(server.cfg.workers)))


def _child_exit(_server: Any, worker: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def gunicorn_settings(service: str, default_port: int) -> dict[str, Any]:
    """Gunicorn settings for a service's web process, from <SERVICE>_BIND, _WORKERS, _THREADS, _TIMEOUT."""
    prefix = service.upper()
    env = Env({**os.environ, "POLIS_ENV": os.environ.get("POLIS_ENV", "production")})
    return {
        "wsgi_app": "wsgi:app",
        "bind": env.str(f"{prefix}_BIND", f"127.0.0.1:{default_port}"),
        "workers": env.int(f"{prefix}_WORKERS", 2),
        "threads": env.int(f"{prefix}_THREADS", 4),
        "worker_class": "gthread",
        "timeout": env.int(f"{prefix}_TIMEOUT", 30),
        "graceful_timeout": env.int(f"{prefix}_GRACEFUL_TIMEOUT", 20),
        # The app writes the access lines itself, as JSON with the request id (polis.web).
        "accesslog": None,
        "errorlog": "-",
        "post_fork": _post_fork,
        "child_exit": _child_exit,
    }


# --- worker ---------------------------------------------------------------------------------------------


def relay_loop(*, db: Database, table: Any, broker_url: str) -> Loop:
    """The outbox relay of a producing service as a worker loop."""

    def run(stop: threading.Event) -> None:
        Relay(db=db, table=table, broker_url=broker_url, stop_event=stop).run()

    return Loop("outbox-relay", run)


def consumer_loop(
    *,
    service: str,
    db: Database,
    table: Any,
    broker_url: str,
    handlers: Mapping[str, Callable[..., None]],
    **options: Any,
) -> Loop:
    """The event consumer of a consuming service as a worker loop; options go to polis.events.Consumer."""

    def run(stop: threading.Event) -> None:
        Consumer(
            service=service,
            db=db,
            table=table,
            broker_url=broker_url,
            handlers=dict(handlers),
            stop_event=stop,
            **options,
        ).run()

    return Loop("event-consumer", run)


def run_worker(
    settings: Mapping[str, Any],
    db: Database,
    loops: Callable[[], Sequence[Loop]],
    *,
    stop_event: threading.Event | None = None,
) -> int:
    """Configure logging and the database, then run the service's loops until a signal; the exit code.

    `stop_event`: one the caller already set its own signal handlers on (a stop asked for during its
    start-up is then honoured instead of lost)."""
    configure_logging(settings["SERVICE"], settings["LOG_LEVEL"])
    db.configure(settings["DATABASE_URL"])
    try:
        return run_loops(loops(), stop_event=stop_event)
    finally:
        db.dispose()
