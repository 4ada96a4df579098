"""Alembic environment shared by the services: each migrations/env.py calls run_migrations(metadata, url)."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection, make_url

from polis.db import Database, normalise_url

URL_ATTRIBUTE = "database_url"


def _chosen_url(default_url: str | Callable[[], str]) -> str:
    """Explicit URL first (tests: config.attributes; operators: -x database_url=...), else the service's."""
    config = context.config
    explicit = config.attributes.get(URL_ATTRIBUTE) or context.get_x_argument(as_dictionary=True).get(
        URL_ATTRIBUTE
    )
    if explicit:
        return normalise_url(explicit)
    return normalise_url(default_url() if callable(default_url) else default_url)


def _configure(metadata: MetaData, *, url: str | None = None, connection: Connection | None = None) -> None:
    dialect = connection.dialect.name if connection is not None else make_url(url or "").get_backend_name()
    context.configure(
        url=url,
        connection=connection,
        target_metadata=metadata,
        literal_binds=connection is None,
        compare_type=True,
        # SQLite cannot ALTER most things in place; batch mode rebuilds the table instead.
        render_as_batch=dialect == "sqlite",
    )


def run_migrations(metadata: MetaData, url: str | Callable[[], str]) -> None:
    """Run the migrations of one service's database, offline (SQL script) or online.

    `url` may be a callable so that reading the settings happens only when no explicit URL was given.
    """
    chosen = _chosen_url(url)
    if context.is_offline_mode():
        _configure(metadata, url=chosen)
        with context.begin_transaction():
            context.run_migrations()
        return
    # Database.configure applies the project's SQLite pragmas and creates the file's folder.
    database = Database(chosen)
    try:
        with database.engine.connect() as connection:
            _configure(metadata, connection=connection)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        database.dispose()


# --- platform tables in the services' migrations -----------------------------------------------------------
# Every service's first migration creates the outbox and processed_events tables that polis.events defines.
# These functions are a frozen history: never edit one; a later change to those tables gets new functions
# (create_..._v2 / upgrade_..._v2) called from a new migration of each service.


def create_platform_tables_v1() -> None:
    """Create outbox and processed_events as polis.events defined them at platform schema v1."""
    op.create_table(
        "outbox",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("event_type", sa.String(length=200), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.UniqueConstraint("event_id", name="uq_outbox_event_id"),
    )
    op.create_index("ix_outbox_sent_at", "outbox", ["sent_at"])
    op.create_table(
        "processed_events",
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("event_type", sa.String(length=200), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name="pk_processed_events"),
    )


def drop_platform_tables_v1() -> None:
    op.drop_table("processed_events")
    op.drop_index("ix_outbox_sent_at", table_name="outbox")
    op.drop_table("outbox")


# --- for tests and operators: apply, then compare with the models ------------------------------------------


def upgrade(alembic_ini: str, url: str, revision: str = "head") -> None:
    """Apply a service's migrations to the database at url."""
    from alembic import command
    from alembic.config import Config

    config = Config(alembic_ini)
    config.attributes[URL_ATTRIBUTE] = url
    command.upgrade(config, revision)


def schema_differences(url: str, metadata: MetaData) -> list[object]:
    """What autogenerate would change to make the database at url match metadata; [] when they agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    database = Database(url)
    try:
        with database.engine.connect() as connection:
            context_ = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context_, metadata))
    finally:
        database.dispose()
