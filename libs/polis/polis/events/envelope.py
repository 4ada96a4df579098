"""The event envelope: id (the idempotency key), type, version, time, producer, correlation id, data."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


class MalformedEvent(ValueError):
    """The bytes are not an event envelope (not JSON, missing or mistyped fields)."""


def _current_request_id() -> str | None:
    # Imported lazily: the events package must work in processes that never set up request ids.
    try:
        from polis.requestid import current_request_id
    except ImportError:
        return None
    return current_request_id()


def _format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _parse_time(raw: str) -> datetime:
    moment = datetime.fromisoformat(raw.replace("Z", "+00:00") if raw.endswith("Z") else raw)
    if moment.tzinfo is None:
        raise ValueError("occurred_at has no time zone")
    return moment.astimezone(UTC)


def envelope_json(envelope: dict[str, Any]) -> str:
    """The text of `Event.to_json()` from the event's `to_dict()`."""
    return json.dumps(envelope, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class Event:
    """One domain fact, immutable once created; `data` follows the contract of (type, version)."""

    id: str
    type: str
    version: int
    occurred_at: datetime
    producer: str
    correlation_id: str | None
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def new(
        cls,
        type: str,
        data: dict[str, Any],
        *,
        producer: str,
        version: int = 1,
        correlation_id: str | None = None,
    ) -> Event:
        """A new event with a fresh id, the current UTC time and the current request id as correlation id."""
        return cls(
            id=str(uuid.uuid4()),
            type=type,
            version=version,
            occurred_at=datetime.now(UTC),
            producer=producer,
            correlation_id=correlation_id if correlation_id is not None else _current_request_id(),
            data=data,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "version": self.version,
            "occurred_at": _format_time(self.occurred_at),
            "producer": self.producer,
            "correlation_id": self.correlation_id,
            "data": self.data,
        }

    def to_json(self) -> bytes:
        """Compact JSON with sorted keys: the same event always serialises to the same bytes."""
        return envelope_json(self.to_dict()).encode()

    @classmethod
    def from_dict(cls, raw: Any) -> Event:
        if not isinstance(raw, dict):
            raise MalformedEvent("an event must be a JSON object")
        missing = {"id", "type", "version", "occurred_at", "producer", "data"} - raw.keys()
        if missing:
            raise MalformedEvent(f"missing fields: {', '.join(sorted(missing))}")
        try:
            event_id = str(uuid.UUID(str(raw["id"])))
        except ValueError:
            raise MalformedEvent("id is not a UUID") from None
        version = raw["version"]
        if not isinstance(version, int) or isinstance(version, bool):
            raise MalformedEvent("version must be an integer")
        for name in ("type", "producer", "occurred_at"):
            if not isinstance(raw[name], str) or not raw[name]:
                raise MalformedEvent(f"{name} must be a non-empty string")
        correlation_id = raw.get("correlation_id")
        if correlation_id is not None and not isinstance(correlation_id, str):
            raise MalformedEvent("correlation_id must be a string or null")
        if not isinstance(raw["data"], dict):
            raise MalformedEvent("data must be a JSON object")
        try:
            occurred_at = _parse_time(raw["occurred_at"])
        except ValueError as error:
            raise MalformedEvent(f"occurred_at: {error}") from None
        return cls(
            id=event_id,
            type=raw["type"],
            version=version,
            occurred_at=occurred_at,
            producer=raw["producer"],
            correlation_id=correlation_id,
            data=raw["data"],
        )

    @classmethod
    def from_json(cls, body: bytes | str) -> Event:
        """Parse an envelope; anything that is not one raises MalformedEvent."""
        try:
            raw = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise MalformedEvent(f"not JSON: {error}") from None
        return cls.from_dict(raw)
