"""A library recommendation is taken off a suggestion on the write and amend pages, and every problem the write page
finds with the recommendations or the period links to a box that fixes it; in real headless Chromium with axe-core.

Found on a GP's walk through the pages: a picked adjustment could not be taken off again (a mistaken tick, one the
employer said was not possible, one whose wording names a condition the patient keeps private) short of searching
again and retyping everything; yet "A 'not fit for work' decision cannot carry recommendations: remove them" and
"Choose another adjustment" asked for just that. Those messages, and "Give either an end date or a duration, not
both", linked to a heading (focus went nowhere). A row's problem showed on the row above it once a row before it was
left empty or removed: the API's /recommendations/<n> counts only the rows sent."""

from __future__ import annotations

import re

import pytest

from tests.browser import assert_accessible, error_summary_problems, live_server, sign_in, submit
from tests.services.adjustments.conftest import VALID_NHS, suggestion_body
from tests.services.adjustments.test_page_errors import csrf_for
from tests.services.adjustments.test_pages import fill_date

pytestmark = pytest.mark.timeout(180)
SAVE = "Save and preview the letter"
REMOVE = "Remove this recommendation from the suggestion"


def row(page, title: str):
    """A library recommendation's row on the write page, by its title."""
    return page.get_by_role("group", name=re.compile("^" + re.escape(title)))


def test_an_employer_s_not_possible_is_taken_off_when_amending(app, tokens, page):
    client, h = app.test_client(), tokens.header()
    created = client.post("/suggestions", json=suggestion_body(), headers=h).get_json()
    assert client.post(f"/suggestions/{created['id']}/issue", json={"version": 1}, headers=h).status_code == 200
    with live_server(app) as base:
        sign_in(page, base, tokens.raw(), f"/review/{created['id']}/change")
        assert page.get_by_role("heading", level=1).inner_text() == "Amend the suggestion"
        row(page, "Quieter workspace").get_by_label(REMOVE).check()
        assert_accessible(page)
        submit(page, page.get_by_role("button", name=SAVE))
        assert page.locator("#status .nhsuk-tag").inner_text() == "Amended"
        assert "Quieter workspace" not in page.locator(".nhsuk-inset-text").inner_text()  # the new letter
    stored = client.get(f"/suggestions/{created['id']}", headers=h).get_json()["recommendations"]
    assert [(r["adjustment_id"], r["difficulty"], r.get("free_text")) for r in stored] == [
        ("phased_return_4wk", "Tiredness by mid-afternoon", None),
        (None, "Early starts", "Start at 10am for the first month.")]


def test_not_fit_for_work_links_to_taking_the_picks_off_and_saves_once_they_are(app, tokens, page):
    with live_server(app) as base:
        sign_in(page, base, tokens.raw(), "/write?condition=back_pain&adjustment=no_heavy_lifting"
                                          "&adjustment=sit_stand_desk")
        page.get_by_label("NHS number").fill(VALID_NHS)
        page.get_by_label("First name").fill("Ravi")
        page.get_by_label("Last name").fill("Shah")
        fill_date(page, "Date of birth", "1979-02-03")
        page.get_by_label("Not fit for work").check()
        page.get_by_label("Or for this many days").fill("28")
        page.get_by_label("Your name").fill("Dr Ada Lovelace")
        page.get_by_label("Doctor").check()
        submit(page, page.get_by_role("button", name=SAVE))

        message = "A 'not fit for work' decision cannot carry recommendations: remove them or choose 'may be fit " \
                  "for work'."
        link = page.get_by_role("alert").get_by_role("link", name=message)
        assert link.get_attribute("href") == "#recommendations-0-remove"
        assert error_summary_problems(page) == []
        assert_accessible(page)

        for title in ("No heavy lifting", "Sit-stand desk"):
            row(page, title).get_by_label(REMOVE).check()
        for box in page.get_by_role("group", name="The advice includes").get_by_role("checkbox").all():
            box.uncheck()
        submit(page, page.get_by_role("button", name=SAVE))
        assert page.locator("#status .nhsuk-tag").inner_text() == "Draft"
        letter = page.locator(".nhsuk-inset-text").inner_text()
        assert "is not fit for work" in letter and "Sit-stand desk" not in letter


def test_an_end_date_and_a_duration_together_link_to_the_end_date(app, tokens, page):
    with live_server(app) as base:
        sign_in(page, base, tokens.raw(), "/write?adjustment=no_heavy_lifting")
        fill_date(page, "Until", "2030-01-31")
        page.get_by_label("Or for this many days").fill("28")
        submit(page, page.get_by_role("button", name=SAVE))
        link = page.get_by_role("alert").get_by_role("link", name="Give either an end date or a duration, not both.")
        assert link.get_attribute("href") == "#period-end-day"
        assert error_summary_problems(page) == []


def test_a_row_s_problem_is_shown_on_the_row_that_sent_it(client, tokens):
    h = tokens.header()
    form = {"csrf_token": csrf_for(client, "/write", headers=h), "decision": "may_be_fit",
            "recommendations.0.adjustment_id": "no_heavy_lifting", "recommendations.0.remove": "yes",
            "recommendations.1.adjustment_id": "sit_stand_desk", "recommendations.1.difficulty": "x" * 301,
            # the first row in the clinician's own words left empty, the second used
            "recommendations.3.free_text": "y" * 1001}
    refused = client.post("/write", data=form, headers=h).get_data(as_text=True)
    assert 'id="recommendations-1-difficulty-error"' in refused
    assert 'id="recommendations-0-difficulty-error"' not in refused
    assert 'id="recommendations-3-free_text-error"' in refused
    assert 'id="recommendations-2-free_text-error"' not in refused
