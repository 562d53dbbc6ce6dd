"""UK time, for what people read and for "today": stored moments are UTC, WorkLink's users are in
England and Wales (GMT in winter, BST in summer)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

UK = ZoneInfo("Europe/London")

# How a page shows a moment: UK time with the year, naming the clock ("6 Jul 2026, 09:00 BST"). A time without
# its year was ambiguous in a history running across years, and one without GMT/BST beside UTC-kept times.
MOMENT = "%-d %b %Y, %H:%M %Z"


def uk_time(moment: datetime) -> datetime:
    """A stored moment (UTC; SQLite gives it back without its zone) in UK time."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).astimezone(UK)


def uk_moment(moment: datetime | None, pattern: str = MOMENT) -> str:
    """A stored moment as people read it (MOMENT unless `pattern` says otherwise); "" for none. A moment in the
    first hours of year 1 (a period asked for up to then) has no UK time: it is shown in UTC."""
    if moment is None:
        return ""
    try:
        return uk_time(moment).strftime(pattern)
    except OverflowError:
        return moment.replace(tzinfo=timezone.utc).strftime(pattern.replace("%Z", "UTC"))


def uk_today(moment: datetime | None = None) -> date:
    """The UK date at `moment` (now when not given): 00:30 BST on 2 July is 2 July, though it is still 1 July
    in UTC."""
    return uk_time(moment or datetime.now(timezone.utc)).date()


def uk_day_bounds(day: date) -> tuple[datetime, datetime]:
    """The UTC moments a UK date starts and ends (end excluded): 23 hours on the spring clock change, 25 on the
    autumn one. UK midnight is never skipped or repeated (the clocks change at 01:00 UTC)."""
    start = datetime.combine(day, time(0), tzinfo=UK)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=UK)
    return start.astimezone(timezone.utc), end.astimezone(timezone.utc)
