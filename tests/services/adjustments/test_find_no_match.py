"""A guidance search that finds nothing says so and what to try, and the clinician can still write the advice in
their own words; in real headless Chromium with axe-core.

Found on a GP's walk through the pages: a search matching no adjustment showed "0 adjustments" and nothing else,
and the write page was reached only through "Use these adjustments" on a search's results: advice the library has
nothing for could not be written on the pages at all."""

from __future__ import annotations

import pytest

from tests.browser import assert_accessible, live_server, sign_in, submit
from tests.services.adjustments.conftest import VALID_NHS
from tests.services.adjustments.test_pages import fill_date

pytestmark = pytest.mark.timeout(180)


def test_no_match_says_what_to_try_and_leads_to_the_write_page(app, tokens, page):
    with live_server(app) as base:
        sign_in(page, base, tokens.raw(), "/find")
        page.get_by_label("Condition, difficulty or task").fill("xyzzy")
        submit(page, page.get_by_role("button", name="Search guidance"))
        assert page.locator("#no-match").inner_text().startswith("No adjustments in the guidance match this search.")
        assert_accessible(page)
        submit(page, page.get_by_role("link", name="Write a suggestion in your own words"))
        assert page.get_by_role("heading", level=1).inner_text() == "Write the suggestion"
        page.get_by_label("NHS number").fill(VALID_NHS)
        page.get_by_label("First name").fill("Mo")
        page.get_by_label("Last name").fill("Khan")
        fill_date(page, "Date of birth", "1990-06-01")
        page.get_by_label("Condition affecting fitness for work").first.fill("Gout")
        page.get_by_label("Functional effects, in plain words").fill("Cannot stand for long in the next fortnight.")
        page.locator("#recommendations-0-free_text").fill("A seat at the till for four weeks.")
        page.get_by_label("Or for this many days").fill("28")
        page.get_by_label("Your name").fill("Dr Ada Lovelace")
        page.get_by_label("Doctor").check()
        submit(page, page.get_by_role("button", name="Save and preview the letter"))
        assert page.locator("#status .nhsuk-tag").inner_text() == "Draft"
        assert "A seat at the till for four weeks." in page.locator(".nhsuk-inset-text").inner_text()


def test_results_offer_the_own_words_way_too(app, tokens, page):
    with live_server(app) as base:
        sign_in(page, base, tokens.raw(), "/find?q=lifting")
        assert page.locator("#no-match").count() == 0
        assert page.get_by_role("link", name="Write a suggestion in your own words, without these adjustments") \
            .count() == 1
