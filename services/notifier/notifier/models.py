"""The notifier declarative base and the platform tables (outbox, processed events) in its own database."""

from __future__ import annotations

from polis.db import Base as PolisBase
from polis.events.outbox import define_outbox
from polis.events.processed import define_processed_events
from polis.service import service_metadata
from sqlalchemy import MetaData


class Base(PolisBase):
    """Base of every notifier model: its metadata holds the notifier's tables only."""

    __abstract__ = True
    metadata = service_metadata()


# The outbox is ready for the notifier.* delivery-status events to come.
outbox = define_outbox(Base.metadata)
processed_events = define_processed_events(Base.metadata)


def all_metadata() -> MetaData:
    """The notifier's metadata with every domain model imported, for migrations and schema checks."""
    from notifier.accounts import models as _accounts  # noqa: F401 - registers the tables
    from notifier.delivery import models as _delivery  # noqa: F401

    return Base.metadata
