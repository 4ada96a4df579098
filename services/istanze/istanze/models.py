"""The istanze declarative base and the platform tables (outbox, processed events) in its own database."""

from __future__ import annotations

from polis.db import Base as PolisBase
from polis.events.outbox import define_outbox
from polis.events.processed import define_processed_events
from polis.service import service_metadata
from sqlalchemy import MetaData


class Base(PolisBase):
    """Base of every istanze model: its metadata holds the istanze service's tables only."""

    __abstract__ = True
    metadata = service_metadata()


outbox = define_outbox(Base.metadata)
# Ready for the consumer that comes with the first handled event; created now so the schema starts whole.
processed_events = define_processed_events(Base.metadata)


def all_metadata() -> MetaData:
    """The istanze metadata with every domain model imported, for migrations and schema checks."""
    import istanze.applications.models
    import istanze.contacts.models
    import istanze.procedures.models
    import istanze.protocol.models
    import istanze.receipts.models  # noqa: F401

    return Base.metadata
