"""The processed_events table: event ids a consumer has handled, written in the handler's transaction."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, MetaData, String, Table

PROCESSED_TABLE = "processed_events"


def _now() -> datetime:
    return datetime.now(UTC)


def define_processed_events(metadata: MetaData, name: str = PROCESSED_TABLE) -> Table:
    """The dedupe table on a consuming service's metadata (its migrations create it)."""
    return Table(
        name,
        metadata,
        Column("event_id", String(36), primary_key=True),
        Column("event_type", String(200), nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False, default=_now),
    )
