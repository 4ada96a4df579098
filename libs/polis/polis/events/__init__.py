"""Events between services: envelope, contracts, outbox and relay, consumer runner, broker, sealing."""

from polis.events.consumer import Consumer, Unprocessable
from polis.events.contracts import ATTACHMENT_MAX_BYTES, ContractViolation, known_types, validate
from polis.events.envelope import Event, MalformedEvent
from polis.events.outbox import define_outbox, record
from polis.events.processed import define_processed_events
from polis.events.relay import Relay
from polis.events.sealing import DEV_KEY_ID, DEV_PRIVATE_KEY, DEV_PUBLIC_KEY, Opener, Sealer, SealError

__all__ = [
    "ATTACHMENT_MAX_BYTES",
    "DEV_KEY_ID",
    "DEV_PRIVATE_KEY",
    "DEV_PUBLIC_KEY",
    "Consumer",
    "ContractViolation",
    "Event",
    "MalformedEvent",
    "Opener",
    "Relay",
    "SealError",
    "Sealer",
    "Unprocessable",
    "define_outbox",
    "define_processed_events",
    "known_types",
    "record",
    "validate",
]
