"""An attachment over the limit (2 MiB decoded) is refused at publish time: the outbox refuses the event."""

import uuid

import pytest
from notifier.samples import attachment, message_event
from polis.db import Database
from polis.events import ATTACHMENT_MAX_BYTES, ContractViolation
from polis.events.outbox import define_outbox, record
from sqlalchemy import MetaData, func, select


def test_an_oversized_attachment_is_refused_by_the_outbox_and_nothing_is_written(database_url: str) -> None:
    metadata = MetaData()
    outbox = define_outbox(metadata)
    database = Database(database_url)
    metadata.create_all(database.engine)
    event = message_event("istanze.istanza_submitted", str(uuid.uuid4()))
    event.data["receipt"] = attachment("ricevuta.pdf", b"%PDF" + b"x" * ATTACHMENT_MAX_BYTES)

    with pytest.raises(ContractViolation) as error, database.transaction() as session:
        record(session, event, outbox)

    assert error.value.path == "data.receipt.content_base64"
    assert len(str(error.value)) < 300  # the offending content is not quoted back
    with database.transaction() as session:
        assert session.scalar(select(func.count()).select_from(outbox)) == 0
    database.dispose()


def test_an_attachment_at_the_limit_is_accepted(database_url: str) -> None:
    metadata = MetaData()
    outbox = define_outbox(metadata)
    database = Database(database_url)
    metadata.create_all(database.engine)
    event = message_event("istanze.istanza_submitted", str(uuid.uuid4()))
    event.data["receipt"] = attachment("ricevuta.pdf", b"x" * ATTACHMENT_MAX_BYTES)

    with database.transaction() as session:
        record(session, event, outbox)
    with database.transaction() as session:
        assert session.scalar(select(func.count()).select_from(outbox)) == 1
    database.dispose()
