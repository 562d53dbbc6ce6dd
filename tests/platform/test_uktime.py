"""How every service's pages show a moment (worklink.uktime.uk_moment): one format, UK time, the clock named."""

from datetime import datetime, timezone

import pytest

from worklink.uktime import uk_moment


@pytest.mark.parametrize("moment, shown", [
    (datetime(2026, 7, 6, 8, 5, tzinfo=timezone.utc), "6 Jul 2026, 09:05 BST"),
    (datetime(2026, 12, 31, 23, 30, tzinfo=timezone.utc), "31 Dec 2026, 23:30 GMT"),
    (datetime(2026, 3, 29, 0, 59), "29 Mar 2026, 00:59 GMT"),  # naive (SQLite): UTC, the minute before the change
    (datetime(2026, 3, 29, 1, 0), "29 Mar 2026, 02:00 BST"),
])
def test_a_moment_is_shown_in_uk_time_with_its_year_and_clock(moment, shown):
    assert uk_moment(moment) == shown


def test_a_pattern_can_ask_for_less():
    assert uk_moment(datetime(2026, 7, 5, 23, 15, tzinfo=timezone.utc), "%-d %B %Y") == "6 July 2026"


def test_no_moment_shows_nothing():
    assert uk_moment(None) == ""


def test_a_moment_before_uk_time_began_is_shown_in_utc():
    """The first minutes of year 1 (an audit period asked for up to then) have no UK time: not a 500."""
    assert uk_moment(datetime(1, 1, 1, 0, 0, 1)) == "1 Jan 1, 00:00 UTC"
