"""WCAG 2.2 AA criteria axe-core cannot judge, on the adjustments pages in real headless Chromium: the
clinician's home, guidance search, suggestion form and review, the letters, and the employer's reply page.
Each test walks the pages a person meets and checks one criterion (helpers: tests/browser.py).

Found in the accessibility walk of 27 November: a guidance search had the empty form's title "Find adjustment
guidance", and every page of the home list and a patient's list "Your practice's adjustment suggestions", so tabs
and history could not tell them apart (2.4.2 Page Titled).
The suggestion form's date of birth and error order are being changed elsewhere; this module leaves that
form's errors to its own tests."""

from __future__ import annotations

import pytest

from tests.browser import (PageWalk, error_summary_problems, keyboard_problems, live_server, pages_with_problems,
                           sign_in, small_targets, submit, reflow_and_spacing_problems)
from tests.services.adjustments.conftest import VALID_NHS, suggestion_body

pytestmark = pytest.mark.timeout(300)


def walk(app, tokens, page, check) -> dict[str, object]:
    """Every adjustments page as the person who uses it sees it: `check(page)` on each, by the page's name."""
    created = app.test_client().post("/suggestions", json=suggestion_body(), headers=tokens.header()).get_json()
    review = f"/review/{created['id']}"
    with live_server(app) as base:
        pages = PageWalk(page, base, check)
        visit = pages.visit

        visit("sign in", "/signin")
        sign_in(page, base, tokens.raw(), "/")
        visit("home", "/")
        visit("guidance search", "/find")
        visit("guidance for a condition", "/find?condition=back_pain")
        visit("guidance for words", "/find?q=lifting")
        visit("new suggestion", "/write")
        visit("draft", review)
        visit("change the draft", f"{review}/change")
        page.goto(base + review)
        submit(page, page.get_by_role("button", name="Issue the suggestion"))
        visit("issued", review)
        visit("withdraw", f"{review}/withdraw")  # asked of current advice only (a draft's goes to its review page)
        visit("employer letter", f"/suggestions/{created['id']}/letter")
        visit("patient summary", f"/suggestions/{created['id']}/summary")
        page.goto(base + review)
        reply = page.locator("a[href*='/respond/']").get_attribute("href")
        page.context.clear_cookies()
        visit("employer's reply", reply)
    return pages.found


def test_2_4_2_every_page_and_every_search_has_a_title_of_its_own(app, tokens, page):
    titles = walk(app, tokens, page, lambda p: p.title())
    assert len(set(titles.values())) == len(titles), titles
    assert titles["guidance for a condition"].startswith("The best 25 of ")
    assert titles["guidance for a condition"].endswith(" adjustments for Low back pain – Find adjustment guidance"
                                                       " – WorkLink")
    assert " adjustments matching lifting – Find adjustment guidance" in titles["guidance for words"]


def test_2_4_2_each_page_of_the_home_list_and_a_patient_s_list_have_their_own_titles(app, tokens, page):
    for _ in range(26):  # two pages
        assert app.test_client().post("/suggestions", json=suggestion_body(), headers=tokens.header()).status_code == 201
    with live_server(app) as base:
        sign_in(page, base, tokens.raw(), "/")
        titles = [page.title()]
        submit(page, page.get_by_role("link", name="Next"))
        titles.append(page.title())
        page.get_by_label("Find a patient's suggestions by NHS number").fill(VALID_NHS)
        submit(page, page.get_by_role("button", name="Search"))
        titles.append(page.title())
    assert titles == ["Your practice's adjustment suggestions (page 1 of 2) – WorkLink",
                      "Your practice's adjustment suggestions (page 2 of 2) – WorkLink",
                      "One patient's adjustment suggestions (page 1 of 2) – WorkLink"]  # not the number itself


def test_2_4_3_2_4_7_2_4_11_keyboard_order_visible_unobscured_focus_and_the_skip_link(app, tokens, page):
    assert pages_with_problems(walk(app, tokens, page, keyboard_problems)) == {}


def test_2_5_8_targets_are_24_px_or_spaced(app, tokens, page):
    assert pages_with_problems(walk(app, tokens, page, small_targets)) == {}


def test_1_4_10_1_4_12_reflow_at_320_px_and_text_spacing(app, tokens, page):
    assert pages_with_problems(walk(app, tokens, page, reflow_and_spacing_problems)) == {}


def test_1_3_5_the_employer_s_and_clinician_s_own_details_say_what_they_are(app, tokens, page):
    def own_details(p):
        return {label: p.get_by_label(label, exact=True).get_attribute("autocomplete")
                for label in ("Your name", "Your role (optional)") if p.get_by_label(label, exact=True).count()}
    found = walk(app, tokens, page, own_details)
    assert found["new suggestion"] == {"Your name": "name"}  # the clinician signing it
    assert found["employer's reply"] == {"Your name": "name", "Your role (optional)": "organization-title"}


def test_3_3_1_3_3_3_refused_forms_lead_to_each_field_and_say_why_there(app, tokens, page):
    created = app.test_client().post("/suggestions", json=suggestion_body(), headers=tokens.header()).get_json()
    with live_server(app) as base:
        sign_in(page, base, tokens.raw(), "/")
        page.get_by_label("Find a patient's suggestions by NHS number").fill("123")
        submit(page, page.get_by_role("button", name="Search"))
        assert error_summary_problems(page) == []

        page.goto(f"{base}/review/{created['id']}")
        submit(page, page.get_by_role("button", name="Issue the suggestion"))
        reply = page.locator("a[href*='/respond/']").get_attribute("href")

        # Issued: only current advice is asked to be withdrawn (a draft's page goes back to the review page)
        page.goto(f"{base}/review/{created['id']}/withdraw")
        submit(page, page.locator("main button[type=submit]").last)
        assert page.locator(".nhsuk-error-summary__list a").count() == 1
        assert error_summary_problems(page) == []

        page.context.clear_cookies()
        page.goto(reply)
        submit(page, page.get_by_role("button", name="Send your answer"))
        assert page.locator(".nhsuk-error-summary__list a").count() >= 2
        assert error_summary_problems(page) == []
