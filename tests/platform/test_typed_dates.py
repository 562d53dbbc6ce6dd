"""worklink.web.dates: a date typed into NHS.UK's three boxes, read on the server with a message naming
what to fix (pure logic: no app)."""

from __future__ import annotations

from datetime import date

import pytest

from worklink.web.dates import TypedDate, date_parts, typed_date


def boxes(day: str = "", month: str = "", year: str = "") -> dict[str, str]:
    return {"born-day": day, "born-month": month, "born-year": year}


@pytest.mark.parametrize("typed, expected", [
    (boxes(), TypedDate(None, None)),  # nothing typed: the page says whether it is needed
    (boxes(" ", "", " "), TypedDate(None, None)),
    (boxes("3", "2", "1979"), TypedDate(date(1979, 2, 3), None)),
    (boxes("03", "02", "1979"), TypedDate(date(1979, 2, 3), None)),
    (boxes("29", "2", "2024"), TypedDate(date(2024, 2, 29), None)),
    (boxes("3", "", "1979"), TypedDate(None, "Date of birth must include a month", ("month",))),
    (boxes("", "", "1979"), TypedDate(None, "Date of birth must include a day and a month", ("day", "month"))),
    (boxes("3", "", ""), TypedDate(None, "Date of birth must include a month and a year",
                                ("month", "year"))),
    (boxes("3", "2", "79"), TypedDate(None, "Date of birth must include the year as 4 numbers", ("year",))),
    (boxes("3", "2", "1979\u00b2"), TypedDate(None, "Date of birth must include the year as 4 numbers", ("year",))),
    (boxes("29", "2", "2023"), TypedDate(None, "Date of birth must be a real date")),
    (boxes("31", "4", "1979"), TypedDate(None, "Date of birth must be a real date")),
    (boxes("0", "2", "1979"), TypedDate(None, "Date of birth must be a real date")),
    (boxes("3", "13", "1979"), TypedDate(None, "Date of birth must be a real date")),
    (boxes("3", "Feb", "1979"), TypedDate(None, "Date of birth must be a real date")),
    (boxes("\u00b2", "2", "1979"), TypedDate(None, "Date of birth must be a real date")),  # isdigit() says yes
    (boxes("9" * 5000, "2", "1979"), TypedDate(None, "Date of birth must be a real date")),  # too long for int()
    (boxes("3", "2", "0000"), TypedDate(None, "Date of birth must be a real date")),
])
def test_a_typed_date_is_read_or_its_mistake_named(typed, expected):
    assert typed_date(typed, "born", "Date of birth") == expected


def test_a_stored_date_fills_the_boxes_as_people_type_them():
    assert date_parts(date(1979, 2, 3)) == {"day": "3", "month": "2", "year": "1979"}
    assert date_parts("0999-12-31") == {"day": "31", "month": "12", "year": "0999"}
    assert date_parts("1985-02-30") == date_parts(None) == date_parts("") == {}


def test_the_date_input_marks_and_links_only_the_boxes_to_correct(tmp_path):
    """worklink/forms.html date_input: keyed on the month's box with error_parts=["month"], only the month is
    marked and the message is the month's (the summary links there); keyed on the day's box alone, the whole
    date is marked, as before error_parts (the referrals self-referral page's use)."""
    from flask import render_template_string as render

    from tests.platform.support import pages_app
    from worklink.config import Settings
    from worklink.web.pages import PagesBlueprint

    app = pages_app(Settings.from_env("demo", {"WORKLINK_VAR": str(tmp_path)}), PagesBlueprint("dates", __name__))
    page = """{% from "worklink/forms.html" import date_input %}{{ date_input("born", "Date of birth", {}, errors,
              error_parts=parts) }}"""
    with app.test_request_context():
        month = render(page, errors={"born-month": "Date of birth must include a month"}, parts=["month"])
        whole = render(page, errors={"born-day": "Date of birth must be a real date"}, parts=None)
    assert 'aria-describedby="born-month-error"' in month and 'id="born-month-error"' in month
    assert month.count("nhsuk-input--error") == 1
    assert 'nhsuk-input--width-2 nhsuk-input--error" id="born-month"' in month
    assert 'aria-describedby="born-day-error"' in whole and whole.count("nhsuk-input--error") == 3
