"""The employer's reply page (no sign-in, the single-use link) takes "Changes start on" as the write form takes its
dates: NHS.UK's three boxes (day, month, year), read on the server by the shared typed_date with a message saying
what to fix; in real headless Chromium with axe-core.

Found in a review: the page still used the browser's date picker, whose look and words vary by browser (and which
the clinician's write form had already left)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.browser import assert_accessible, live_server, submit
from tests.services.adjustments.test_letters_and_employer import csrf, issued, response_link
from tests.services.adjustments.test_pages import fill_date
from tests.services.adjustments.test_write_form import summary_links
from worklink_adjustments.domain import uk_today

pytestmark = pytest.mark.timeout(180)
STARTS = "Changes start on (optional)"
SEND = "Send your answer"


def answer_every_change(page, rows: int = 3) -> None:
    for i in range(rows):
        page.locator(f"input[name='items.{i}.outcome'][value='agreed']").check()
    page.get_by_label("Your name", exact=True).fill("Jo Manager")


def test_the_start_date_is_typed_in_three_boxes_and_a_part_missing_is_named(app, tokens, page):
    client = app.test_client()
    suggestion = issued(client, tokens)
    link = response_link(client, tokens, suggestion["id"])
    with live_server(app) as base:
        page.goto(base + link)
        assert page.locator("input[type=date]").count() == 0
        group = page.get_by_role("group", name=STARTS, exact=True)
        boxes = group.locator("input").all()
        assert [group.locator(f"label[for='{b.get_attribute('id')}']").inner_text() for b in boxes] == [
            "Day", "Month", "Year"]
        assert {b.get_attribute("inputmode") for b in boxes} == {"numeric"}
        assert {b.get_attribute("autocomplete") for b in boxes} == {None}  # not the employer's birthday
        assert_accessible(page)

        answer_every_change(page)
        group.get_by_label("Day", exact=True).fill("3")
        group.get_by_label("Year", exact=True).fill(str(uk_today().year))
        submit(page, page.get_by_role("button", name=SEND))
        assert page.title().startswith("Error: ")
        assert summary_links(page) == [("effective_from-month", "The date the changes start must include a month")]
        marked = [b.get_attribute("id") for b in group.locator(".nhsuk-input--error").all()]
        assert marked == ["effective_from-month"]  # only the box to fill in
        assert group.get_by_label("Day", exact=True).input_value() == "3"  # what was typed stays
        assert page.locator("input[name='items.0.outcome'][value='agreed']").is_checked()
        assert_accessible(page)

        start = uk_today() + timedelta(days=10)
        fill_date(page, STARTS, start.isoformat())
        submit(page, page.get_by_role("button", name=SEND))
        assert page.get_by_role("heading", level=1).inner_text().startswith("Answer sent")
    answer = client.get(f"/suggestions/{suggestion['id']}", headers=tokens.header()).get_json()["employer_response"]
    assert answer["effective_from"] == start.isoformat()


def test_a_start_date_that_is_no_date_or_too_far_off_is_refused_with_the_rest(app, tokens, page):
    client = app.test_client()
    link = response_link(client, tokens, issued(client, tokens)["id"])
    with live_server(app) as base:
        page.goto(base + link)
        fill_date(page, STARTS, f"{uk_today().year}-02-31")
        submit(page, page.get_by_role("button", name=SEND))  # nothing else answered either: one round
        links = summary_links(page)
        assert ("effective_from-day", "The date the changes start must be a real date") in links
        assert [target for target, _ in links][-2:] == ["responder_name", "effective_from-day"]  # in page order
        assert page.get_by_role("group", name=STARTS).locator(".nhsuk-input--error").count() == 3
        assert_accessible(page)

        answer_every_change(page)
        fill_date(page, STARTS, (uk_today() + timedelta(days=3 * 365)).isoformat())
        submit(page, page.get_by_role("button", name=SEND))
        assert summary_links(page) == [("effective_from-day", "The date the changes start must be within a year "
                                                              "before, or two years after, today.")]
        assert_accessible(page)


def test_a_form_posting_one_iso_start_date_is_still_taken(client, tokens):
    """A program posting the page's old field (one YYYY-MM-DD value) is answered as before; the JSON API is
    unchanged (test_employer_api_and_rounds)."""
    suggestion = issued(client, tokens)
    link = response_link(client, tokens, suggestion["id"])
    start = uk_today().isoformat()
    done = client.post(link, data={"csrf_token": csrf(client, link), "responder_name": "Jo Manager",
                                   "effective_from": start, **{f"items.{i}.outcome": "agreed" for i in range(3)}})
    assert done.status_code == 303, done.get_data(as_text=True)  # to the answer's confirmation
    answer = client.get(f"/suggestions/{suggestion['id']}", headers=tokens.header()).get_json()["employer_response"]
    assert answer["effective_from"] == start
