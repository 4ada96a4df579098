"""Database access shared by the services: one engine per process, sessions scoped to one transaction."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker


class Base(DeclarativeBase):
    """Declarative base; each service subclasses it so that its metadata holds only its own tables."""


def normalise_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs given in the common short form."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def _prepare_sqlite(engine: Engine) -> None:
    """pysqlite's own transaction handling breaks SAVEPOINT and defers BEGIN: take control of both; WAL.

    Every transaction begins IMMEDIATE, taking SQLite's one write lock at BEGIN. A deferred transaction that
    reads and then writes fails at once with "database is locked" when another connection (another thread,
    the worker process) committed in between: the busy timeout does not apply to it. Taking the lock at
    BEGIN makes it wait its turn instead. SQLite runs one writer at a time anyway; WAL readers outside a
    transaction are not blocked. PostgreSQL needs none of this.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


# A pooled connection unused for longer than this is checked with a round trip before it is handed out.
IDLE_PING_SECONDS = 10.0
# No pooled connection lives longer than this (servers and proxies close old ones: recycle them first).
POOL_RECYCLE_SECONDS = 1800


def _ping_idle_connections(engine: Engine, idle_seconds: float) -> None:
    """Ping a pooled connection only when it sat idle, not at every checkout (pool_pre_ping's cost).

    Under load a connection goes back to work within milliseconds and pinging it is pure waste: one more
    round trip before every transaction (about a tenth of IAM's busy time during logins). One that sat
    unused may have been closed by the server, a restart or a proxy: that one is checked, and a dead one is
    replaced before the caller sees it (DisconnectionError makes the pool discard it and try another). A
    disconnect on a connection that was busy a moment ago still surfaces once, and invalidates the pool so
    every other stale connection is replaced at its next checkout.
    """

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["polis.last_used"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        last_used = record.info.get("polis.last_used")
        if last_used is None or time.monotonic() - last_used < idle_seconds:
            return  # brand new (just connected), or back from work a moment ago
        ping_connection(dbapi_connection)


def ping_connection(dbapi_connection: Any) -> None:
    """One trivial round trip on a raw DB-API connection, leaving it outside a transaction as it was
    handed over (the DB-API begins one implicitly: a connection left in it could not be switched to
    autocommit by its next user); DisconnectionError when it is dead."""
    try:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SELECT 1")
        finally:
            cursor.close()
        dbapi_connection.rollback()
    except Exception as exc:
        raise DisconnectionError(str(exc)) from exc


class Database:
    """An engine and a session factory, created unbound and configured once the settings are known."""

    def __init__(self, url: str | None = None, **engine_options: Any) -> None:
        self._engine: Engine | None = None
        self._sessions: sessionmaker[Session] | None = None
        if url is not None:
            self.configure(url, **engine_options)

    def configure(self, url: str, **engine_options: Any) -> None:
        url = normalise_url(url)
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                os.makedirs(os.path.dirname(os.path.abspath(parsed.database)), exist_ok=True)
            engine_options.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
        else:
            engine_options.setdefault("pool_recycle", POOL_RECYCLE_SECONDS)
            # At least one kept connection per request thread (gunicorn runs up to 8 per worker here):
            # with fewer, every busy moment opens and closes overflow connections.
            engine_options.setdefault("pool_size", 10)
            engine_options.setdefault("max_overflow", 10)
        if self._engine is not None:
            self._engine.dispose()
        idle_ping = engine_options.pop("idle_ping_seconds", IDLE_PING_SECONDS)
        self._engine = create_engine(url, **engine_options)
        if parsed.get_backend_name() == "sqlite":
            _prepare_sqlite(self._engine)
        elif not engine_options.get("pool_pre_ping"):
            _ping_idle_connections(self._engine, idle_ping)
        self._sessions = sessionmaker(self._engine, expire_on_commit=False)

    def init_app(self, app: Any, url: str) -> None:
        """Bind to a Flask app: configure, and dispose of pooled connections inherited across a fork."""
        self.configure(url)
        app.extensions["polis.db"] = self

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError("Database is not configured")
        return self._engine

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @property
    def sqlite_path(self) -> str | None:
        if not self.is_sqlite:
            return None
        return self.engine.url.database

    def session(self) -> Session:
        if self._sessions is None:
            raise RuntimeError("Database is not configured")
        return self._sessions()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: commit when the block ends, roll back when it raises."""
        session = self.session()
        try:
            with session.begin():
                yield session
        finally:
            session.close()

    def ping(self) -> None:
        """Raise if the database cannot answer a trivial query."""
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
