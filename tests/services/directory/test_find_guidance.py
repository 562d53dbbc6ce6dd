"""The residents' search helps when the words do not: a postcode typed among the words is searched as a postcode,
words no listing uses are named, and a search that finds nothing says what to try (test client, the known directory;
the ranking itself is tested on both engines in test_search_quality.py), and in Chromium with axe-core."""

from __future__ import annotations

import re
from html import unescape

import pytest
from playwright.sync_api import expect

from tests.browser import assert_accessible, live_server


def results(app, query: str) -> tuple[int, str]:
    response = app.test_client().get("/find?" + query)
    html = response.get_data(as_text=True)
    return response.status_code, html


def text_of(html: str, element_id: str) -> str:
    match = re.search(rf'<(\w+)[^>]* id="{element_id}"[^>]*>(.*?)</\1>', html, re.S)
    assert match, f"no #{element_id}"
    return " ".join(unescape(re.sub(r"<[^>]+>", "", match.group(2))).split())


def result_names(html: str) -> list[str]:
    return [unescape(name) for name in re.findall(r'class="nhsuk-card__link"[^>]*>([^<]+)</a>', html)]


@pytest.mark.parametrize("typed", ["counselling TA1 1AA", "counselling ta11aa", "ta1 1aa counselling"])
def test_a_postcode_among_the_words_is_searched_as_the_postcode(app, directory, typed):
    status, html = results(app, "q=" + typed.replace(" ", "+"))
    assert status == 200
    # Was "0 services found": no listing has the words "ta1" or "1aa".
    assert result_names(html)[0] == "Taunton counselling service"
    assert "miles away" in html and "open to people living in TA1 postcodes" in html
    assert re.search(r'id="postcode"[^>]*value="TA1 1AA"', html) and re.search(r'id="q"[^>]*value="counselling"', html)
    assert "<title>2 services found for counselling – Find support" in html  # the words, not the postcode


def test_a_postcode_field_already_filled_keeps_the_words_as_typed(app, directory):
    status, html = results(app, "q=counselling+BA20+1AA&postcode=TA1+1AA")
    assert status == 200 and re.search(r'id="postcode"[^>]*value="TA1 1AA"', html)
    assert re.search(r'id="q"[^>]*value="counselling BA20 1AA"', html)


def test_words_no_listing_uses_are_named_above_the_results(app, directory):
    status, html = results(app, "q=autism+counselling")
    assert status == 200 and result_names(html)[0] == "Taunton counselling service"
    assert text_of(html, "left-out") == "No service mentions autism, so these results match your other words."
    status, html = results(app, "q=counselling")
    assert 'id="left-out"' not in html


def test_a_search_finding_nothing_says_what_to_try(app, directory):
    status, html = results(app, "q=menopause")
    assert status == 200 and "0 services found" in html
    advice = text_of(html, "no-results")
    assert advice.startswith("No services match menopause. You could: check the spelling")
    assert "without the other things you chose" not in advice  # nothing else was chosen
    # Every type of support is offered as a search of its own.
    links = re.findall(r'<a href="/find\?category=([0-9a-f-]+)">([^<]+)</a>', html)
    assert "Debt and money advice" in [name for _, name in links]
    assert len(links) == 12  # the demo taxonomy's top-level types (demo.TERMS without a parent)
    for term_id, _name in links:
        assert app.test_client().get(f"/find?category={term_id}").status_code == 200


def test_a_search_finding_nothing_with_filters_offers_the_words_alone(app, directory):
    status, html = results(app, "q=counselling&day=SU")
    assert status == 200 and "0 services found" in html
    advice = text_of(html, "no-results")
    assert advice.startswith("No services match counselling with the other things you chose.")
    assert '<a href="/find?q=counselling">search for counselling without the other things you chose</a>' in html
    assert result_names(results(app, "q=counselling")[1])[0] == "Taunton counselling service"


def test_the_advice_reads_well_in_a_browser(app, directory, page):
    with live_server(app) as base:
        page.goto(f"{base}/find")
        page.get_by_label("What do you need help with?").fill("menopause")
        page.get_by_label("Your age").fill("30")
        page.get_by_role("button", name="Search").click()
        expect(page.get_by_role("heading", name="0 services found")).to_be_visible()
        assert_accessible(page)
        page.get_by_role("link", name="search for menopause without the other things you chose").click()
        expect(page.get_by_label("Your age")).to_have_value("")
        page.get_by_role("link", name="Mental health and wellbeing").click()
        expect(page.get_by_role("heading", name="2 services found")).to_be_visible()

        page.get_by_label("What do you need help with?").fill("autism counselling ta1 1aa")
        page.get_by_label("Type of support").select_option(label="Any type")
        page.get_by_role("button", name="Search").click()
        expect(page.locator("#left-out")).to_have_text(
            "No service mentions autism, so these results match your other words.")
        expect(page.get_by_label("Postcode")).to_have_value("TA1 1AA")
        assert_accessible(page)


def test_a_postcode_district_among_the_words_is_searched_as_a_place(app, directory):
    status, html = results(app, "q=debt+ta6")
    # Was "0 services found": no listing has the word "ta6".
    assert status == 200 and result_names(html) == ["Debt and money advice, Bridgwater"]
    assert text_of(html, "town").startswith("Showing services open to people living in TA6 postcodes, with distances")
    assert "miles away" in html
    status, html = results(app, "q=debt+ta9")  # a district no listing is in stays a word (one no listing uses)
    assert 'id="town"' not in html and text_of(html, "left-out").startswith("No service mentions ta9")
