"""A procedure's window: exact local opening and closing times in a named zone (D-IST-1, D-IST-6).

The bounds are kept as the wall-clock times the administration announces ("13 April at 14:00") plus the
zone, not as UTC instants: the offset is applied at the moment of the check, so a deadline on the day
summer time starts or ends is still 14:00 in Italy. A local time that does not exist (skipped by the
spring change) or happens twice (repeated by the autumn change) is refused as a bound.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ROME = "Europe/Rome"


class WindowError(ValueError):
    """A window that cannot be published: the message says why."""


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise WindowError(f"unknown time zone {name!r}") from None


def _check_local(moment: datetime, zone: ZoneInfo, what: str) -> None:
    if moment.tzinfo is not None:
        raise WindowError(f"{what} must be a local time without an offset")
    early, late = moment.replace(tzinfo=zone, fold=0), moment.replace(tzinfo=zone, fold=1)
    if early.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != moment:
        raise WindowError(f"{what} {moment.isoformat()} does not exist in {zone.key} (summer time starts)")
    if early.utcoffset() != late.utcoffset():
        raise WindowError(f"{what} {moment.isoformat()} happens twice in {zone.key} (summer time ends)")


@dataclass(frozen=True)
class Window:
    """Open from `opens` (included) to `closes` (excluded), both local wall-clock times in `zone`."""

    opens: datetime
    closes: datetime
    zone: str = ROME

    def validate(self) -> None:
        """Raise WindowError unless both bounds exist exactly once in the zone and opens < closes."""
        zone = _zone(self.zone)
        _check_local(self.opens, zone, "opening")
        _check_local(self.closes, zone, "closing")
        if not self.opens < self.closes:
            raise WindowError("the window must open before it closes")

    def opens_at(self) -> datetime:
        """The opening instant (aware, in the zone)."""
        return self.opens.replace(tzinfo=_zone(self.zone))

    def closes_at(self) -> datetime:
        """The closing instant (aware, in the zone)."""
        return self.closes.replace(tzinfo=_zone(self.zone))

    def state(self, now: datetime) -> str:
        """ "upcoming", "open" or "closed" at the aware instant `now` (the server's clock, D-IST-6)."""
        if now.tzinfo is None:
            raise ValueError("now must be an aware datetime")
        if now < self.opens_at():
            return "upcoming"
        if now < self.closes_at():
            return "open"
        return "closed"

    def is_open(self, now: datetime) -> bool:
        """True when `now` is inside the window: a submission arriving at the closing time is refused."""
        return self.state(now) == "open"

    def seconds_left(self, now: datetime) -> int:
        """Whole seconds until the closing instant (0 once closed)."""
        return max(0, int((self.closes_at() - now).total_seconds()))
