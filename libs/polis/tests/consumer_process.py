"""A consumer process for the crash test: each handled event appends a row to table `effects`."""

from __future__ import annotations

import sys
import threading

from polis.db import Database
from polis.events import Consumer, define_processed_events
from sqlalchemy import Column, MetaData, String, Table, insert

metadata = MetaData()
processed = define_processed_events(metadata)
effects = Table("effects", metadata, Column("event_id", String(36)))


def main(database_url: str, broker_url: str, service: str) -> None:
    db = Database(database_url)
    metadata.create_all(db.engine)

    def handle(session, event) -> None:
        session.execute(insert(effects).values(event_id=event.id))

    consumer = Consumer(service=service, db=db, table=processed, broker_url=broker_url,
                        handlers={"polis.test_happened": handle}, stop_event=threading.Event())  # fmt: skip
    consumer.run()


if __name__ == "__main__":
    main(*sys.argv[1:4])
