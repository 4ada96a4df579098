"""D-IST-1 / D-IST-6: a window's bounds are exact local times in Europe/Rome, across the summer-time changes.

The clock is the instant handed to the check (the server's clock when the request arrives, D-IST-6), so
each test sets it to the second."""

from datetime import UTC, datetime, timedelta

import pytest
from istanze.procedures.window import Window, WindowError

# 2027: summer time starts on Sunday 28 March and ends on Sunday 31 October (the last Sundays).
MARCH = Window(datetime(2027, 3, 1, 9, 0), datetime(2027, 3, 28, 14, 0))
OCTOBER = Window(datetime(2027, 10, 1, 9, 0), datetime(2027, 10, 31, 14, 0))


def test_d_ist_1_closing_at_14_on_the_day_summer_time_starts_is_14_italian_time() -> None:
    # CEST (UTC+2) from 02:00 that morning: 14:00 in Rome is 12:00 UTC.
    assert MARCH.is_open(datetime(2027, 3, 28, 11, 59, 59, tzinfo=UTC))  # 13:59:59 in Rome: accepted
    assert not MARCH.is_open(datetime(2027, 3, 28, 12, 0, 0, tzinfo=UTC))  # 14:00:00 in Rome: refused
    assert MARCH.state(datetime(2027, 3, 28, 12, 0, 0, tzinfo=UTC)) == "closed"


def test_d_ist_1_closing_at_14_on_the_day_summer_time_ends_is_14_italian_time() -> None:
    # CET (UTC+1) from 03:00 that morning: 14:00 in Rome is 13:00 UTC.
    assert OCTOBER.is_open(datetime(2027, 10, 31, 12, 59, 59, tzinfo=UTC))  # 13:59:59 in Rome
    assert not OCTOBER.is_open(datetime(2027, 10, 31, 13, 0, 0, tzinfo=UTC))  # 14:00:00 in Rome
    # With the summer offset of the day before it would still be open at 13:30 UTC: it must not be.
    assert not OCTOBER.is_open(datetime(2027, 10, 31, 13, 30, tzinfo=UTC))


def test_d_ist_1_the_opening_instant_is_included_and_the_time_left_counts_down() -> None:
    opening = datetime(2027, 3, 1, 8, 0, tzinfo=UTC)  # 09:00 CET
    assert MARCH.state(opening - timedelta(seconds=1)) == "upcoming"
    assert MARCH.is_open(opening)
    assert MARCH.seconds_left(datetime(2027, 3, 28, 11, 59, 59, tzinfo=UTC)) == 1
    assert MARCH.seconds_left(datetime(2027, 3, 29, tzinfo=UTC)) == 0


def test_d_ist_1_a_bound_that_does_not_exist_or_happens_twice_is_refused() -> None:
    with pytest.raises(WindowError, match="does not exist"):
        Window(datetime(2027, 3, 1, 9, 0), datetime(2027, 3, 28, 2, 30)).validate()
    with pytest.raises(WindowError, match="happens twice"):
        Window(datetime(2027, 10, 1, 9, 0), datetime(2027, 10, 31, 2, 30)).validate()
    MARCH.validate()
    OCTOBER.validate()


def test_d_ist_1_a_window_must_open_before_it_closes_in_a_known_zone() -> None:
    with pytest.raises(WindowError, match="open before"):
        Window(datetime(2027, 3, 28, 14, 0), datetime(2027, 3, 28, 14, 0)).validate()
    with pytest.raises(WindowError, match="unknown time zone"):
        Window(datetime(2027, 3, 1), datetime(2027, 3, 2), "Europe/Atlantis").validate()
    with pytest.raises(WindowError, match="without an offset"):
        Window(datetime(2027, 3, 1, tzinfo=UTC), datetime(2027, 3, 2)).validate()


def test_a_naive_clock_is_refused_rather_than_guessed() -> None:
    with pytest.raises(ValueError, match="aware"):
        MARCH.is_open(datetime(2027, 3, 28, 13, 0))
