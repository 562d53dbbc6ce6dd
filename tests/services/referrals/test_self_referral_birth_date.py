"""The self-referral form's date of birth is read by the shared worklink.web.dates (as the adjustments write form's
dates are): a date with only some boxes wrong says which, in NHS.UK's words, marks only those boxes and links the
summary to the first of them; the whole date keeps the page's own words."""

from __future__ import annotations

import re

from tests.services.referrals.test_page_forms import post
from tests.services.referrals.test_self_referral_status_emails import FORM as EVERY_ANSWER

FORM = {**EVERY_ANSWER, "updates_by_email": "no"}


def summary(html: str) -> list[tuple[str, str]]:
    return re.findall(r'<li><a href="#([\w-]+)">([^<]+)</a>', html)


def marked_boxes(html: str) -> list[str]:
    return re.findall(r'nhsuk-input--error" id="birth_date-(\w+)"', html)


def test_a_date_of_birth_missing_its_month_says_so_and_marks_the_month_alone(harness):
    refused = post(harness, "/refer-yourself", {**FORM, "birth_date-month": ""}, {})
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert summary(html) == [("birth_date-month", "Date of birth must include a month")]
    assert marked_boxes(html) == ["month"]
    assert 'id="birth_date-month-error"' in html and 'value="1990"' in html  # what was typed is kept


def test_a_year_of_two_numbers_marks_the_year(harness):
    html = post(harness, "/refer-yourself", {**FORM, "birth_date-year": "90"}, {}).get_data(as_text=True)
    assert summary(html) == [("birth_date-year", "Date of birth must include the year as 4 numbers")]
    assert marked_boxes(html) == ["year"]


def test_the_whole_date_keeps_the_pages_words_and_marks_all_three_boxes(harness):
    no_such_day = post(harness, "/refer-yourself", {**FORM, "birth_date-day": "30", "birth_date-month": "2"}, {})
    html = no_such_day.get_data(as_text=True)
    assert summary(html) == [("birth_date-day", "Date of birth must be a real date, like 15 3 1984")]
    assert marked_boxes(html) == ["day", "month", "year"]
    empty = {**FORM, "birth_date-day": "", "birth_date-month": "", "birth_date-year": ""}
    html = post(harness, "/refer-yourself", empty, {}).get_data(as_text=True)
    assert summary(html) == [("birth_date-day", "Enter your date of birth")]



def test_a_real_date_the_rules_refuse_says_which_rule(harness):
    """It said 'must be a real date' of a date in the future or a child's: a real date, so the person could not
    see what to change."""
    from worklink.uktime import uk_today

    this_year = uk_today().year
    for year, message in ((2090, "Date of birth must be in the past"),
                          (this_year - 5, "You must be 13 or older to refer yourself"),
                          (1850, "Check the year of your date of birth")):
        html = post(harness, "/refer-yourself", {**FORM, "birth_date-year": str(year)}, {}).get_data(as_text=True)
        assert summary(html) == [("birth_date-day", message)], year
        assert marked_boxes(html) == ["day", "month", "year"]


def test_a_month_among_other_problems_is_listed_where_the_date_is_on_the_form(harness):
    html = post(harness, "/refer-yourself", {**FORM, "birth_date-month": "", "given_name": "", "postcode": "x"},
                {}).get_data(as_text=True)
    assert [field for field, _ in summary(html)] == ["given_name", "birth_date-month", "postcode"]


def test_a_typed_date_makes_the_referral(harness):
    started = post(harness, "/refer-yourself", {**FORM, "birth_date-day": "02", "birth_date-month": "01"}, {})
    assert started.status_code == 303 and started.headers["Location"].endswith("/code")
