"""A date a person typed into NHS.UK's date input (worklink/forms.html `date_input`: three boxes named
<name>-day, <name>-month and <name>-year), read on the server.

The boxes are typed, not picked, so each can be left out or hold anything: the message says which part
to fix, as NHS.UK's pattern words it ("Date of birth must include a month", "... must be a real date"),
and `parts` which boxes (the macro's `error_parts`: only those are marked, the first is linked).
A page's own rules (in the past, not before the date of birth) stay with the page.
"""

from __future__ import annotations

import re
from datetime import date
from typing import NamedTuple

from worklink.web.numbers import whole_number

PARTS = ("day", "month", "year")


class TypedDate(NamedTuple):
    value: date | None  # None when nothing was typed, or when it is not a date (see `problem`)
    problem: str | None  # what to tell the person, naming the date by its label; None when it is fine
    parts: tuple[str, ...] = ()  # the boxes to correct when only some are wrong ("month"); () the whole date


def typed_date(form, name: str, label: str) -> TypedDate:
    """The date typed into the boxes of `name` in `form` (a request's form or any mapping); `label` names
    it in a message ("Date of birth")."""
    day, month, year = (str(form.get(f"{name}-{part}", "") or "").strip() for part in PARTS)
    if not (day or month or year):
        return TypedDate(None, None)
    missing = [part for part, typed in zip(PARTS, (day, month, year)) if not typed]
    if missing:
        return TypedDate(None, f"{label} must include a {' and a '.join(missing)}", tuple(missing))
    if not re.fullmatch(r"[0-9]{4}", year):  # "84" would be read as the year 84
        return TypedDate(None, f"{label} must include the year as 4 numbers", ("year",))
    day_number, month_number = whole_number(day, 31), whole_number(month, 12)
    try:
        return TypedDate(date(int(year), month_number, day_number), None)  # type: ignore[arg-type]
    except (TypeError, ValueError):  # a box of no number (None), or 31 April, or month 0
        return TypedDate(None, f"{label} must be a real date")


def date_parts(value: date | str | None) -> dict[str, str]:
    """A date (or an ISO date) as the boxes' values, for a form filled from a stored record: day and month
    without a leading zero, as people type them. Anything else fills no box."""
    try:
        day = value if isinstance(value, date) else date.fromisoformat(str(value or ""))
    except ValueError:
        return {}
    return {"day": str(day.day), "month": str(day.month), "year": f"{day.year:04d}"}
