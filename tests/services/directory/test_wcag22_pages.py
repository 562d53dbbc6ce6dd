"""WCAG 2.2 AA criteria axe-core cannot judge, on the directory's pages in real headless Chromium: the
residents' search, results and service pages, and the partner staff's listing pages. Each test walks the
pages a person meets and checks one criterion (helpers: tests/browser.py).

Found in the accessibility walk of 27 November: every search, and every page of its results, had the empty
form's title "Find support", so tabs and history could not tell them apart (2.4.2 Page Titled)."""

from __future__ import annotations

import re

import pytest

from tests.browser import (PageWalk, error_summary_problems, keyboard_problems, live_server, pages_with_problems,
                           sealed, small_targets, submit, reflow_and_spacing_problems)
from tests.services.directory.conftest import ORG_A, service_body, taking_referrals, token_for
from worklink.auth import mint_token
from worklink.web.pages import SESSION_COOKIE

pytestmark = pytest.mark.timeout(300)


def sign_in_as_partner(app, page, base: str) -> None:
    token = mint_token(app.extensions["worklink"].settings.jwt, role="org_admin", org=str(ORG_A), subject="ada")
    page.context.add_cookies([{"name": SESSION_COOKIE, "value": sealed(app, token), "url": base}])


def walk(app, directory, page, check) -> dict[str, object]:
    """Every directory page as the person who uses it sees it: `check(page)` on each, by the page's name."""
    listing = f"/partner/services/{directory.ids['counselling']}"
    with live_server(app) as base:
        pages = PageWalk(page, base, check)
        visit = pages.visit

        visit("search form", "/find")
        visit("results", "/find?q=counselling")
        visit("results near a postcode", "/find?q=advice&postcode=TA1+1AA")
        visit("service page", f"/find/services/{directory.ids['counselling']}")
        visit("sign in", "/signin")
        sign_in_as_partner(app, page, base)
        visit("partner's listings", "/partner")
        visit("new listing", "/partner/services/new")
        visit("listing", listing)
        page.goto(base + listing)
        contact = page.locator("a[href*='/contacts/']:not([href$='/new']):not([href$='/remove'])").first
        contact = contact.get_attribute("href")
        visit("contact", contact)
        visit("remove contact", contact + "/remove")
        for part in ("locations", "contacts", "opening-times"):
            visit(f"new {part}", f"{listing}/{part}/new")
        visit("withdraw", f"{listing}/withdraw")
    return pages.found


def test_2_4_2_every_page_and_every_search_has_a_title_of_its_own(app, directory, page):
    titles = walk(app, directory, page, lambda p: p.title())
    assert len(set(titles.values())) == len(titles), titles
    assert titles["results"] == "2 services found for counselling – Find support – WorkLink"

    admin = token_for(app, "alliance_admin")
    for n in range(11):
        body = service_body(ORG_A, f"Job club {n}", ["employment-advice"], description="Job club.")
        assert app.test_client().post("/manage/services", json=body, headers=admin).status_code == 201
    with live_server(app) as base:
        page.goto(f"{base}/find?q=job+club")
        first = page.title()
        submit(page, page.get_by_role("link", name="Next"))
        assert (first, page.title()) == ("12 services found for job club (page 1 of 2) – Find support – WorkLink",
                                         "12 services found for job club (page 2 of 2) – Find support – WorkLink")
        page.goto(f"{base}/find?postcode=XX")
        assert page.title() == "Error: Find support – WorkLink"


def test_2_4_3_2_4_7_2_4_11_keyboard_order_visible_unobscured_focus_and_the_skip_link(app, directory, page):
    assert pages_with_problems(walk(app, directory, page, keyboard_problems)) == {}


def test_2_5_8_targets_are_24_px_or_spaced(app, directory, page):
    assert pages_with_problems(walk(app, directory, page, small_targets)) == {}


def test_1_4_10_1_4_12_reflow_at_320_px_and_text_spacing(app, directory, page):
    assert pages_with_problems(walk(app, directory, page, reflow_and_spacing_problems)) == {}


def test_1_3_5_the_resident_s_postcode_says_what_it_is(app, directory, page):
    with live_server(app) as base:
        page.goto(f"{base}/find")
        assert page.get_by_label("Postcode").get_attribute("autocomplete") == "postal-code"


def test_3_3_1_3_3_3_refused_forms_lead_to_each_field_and_say_why_there(app, directory, page):
    listing = f"/partner/services/{directory.ids['counselling']}"
    with live_server(app) as base:
        page.goto(f"{base}/find?q=counselling&postcode=XX&age=old")
        assert page.locator(".nhsuk-error-summary__list a").count() == 2
        assert error_summary_problems(page) == []
        sign_in_as_partner(app, page, base)
        for path, button in (("/partner/services/new", "Publish listing"),
                             (f"{listing}/locations/new", "Add location"),
                             (f"{listing}/contacts/new", "Add contact"),
                             (f"{listing}/opening-times/new", "Add opening time"),
                             (f"{listing}/withdraw", "Withdraw listing")):
            page.goto(base + path)
            submit(page, page.get_by_role("button", name=button))
            assert page.locator(".nhsuk-error-summary__list a").count() >= 1, path
            assert error_summary_problems(page) == [], path


def test_3_3_7_the_postcode_searched_with_goes_to_the_self_referral_form(app, directory, page):
    counselling = directory.ids["counselling"]
    taking_referrals(app, counselling)
    with live_server(app) as base:
        page.goto(f"{base}/find?q=counselling&postcode=TA1+1AA")
        submit(page, page.get_by_role("link", name="Taunton counselling service"))
        refer = page.get_by_role("link", name="Refer yourself to this service").get_attribute("href")
        assert refer.startswith(f"https://referrals.example/refer-yourself?service_id={counselling}&")
        assert refer.endswith("&postcode=TA1+1AA")  # the referrals form fills it in (its own test)
        page.goto(f"{base}/find/services/{counselling}")  # reached from elsewhere: no postcode to carry
        assert "postcode" not in page.get_by_role("link", name="Refer yourself to this service").get_attribute("href")


def test_1_3_5_partner_forms_never_offer_the_partner_s_own_details(app, directory):
    """A listing's website, email, contacts and addresses are the service's, not the signed-in person's: tagged
    url, email, tel, address-line1, address-level2 and postal-code (1.3.5's tokens for the user's own details),
    they invited the browser to fill in the volunteer's own home address, phone and email - published to anyone.
    Marked off, as the address for questions about a check already was (and as the other services do)."""
    from tests.services.directory.test_partner_pages import page_paths, signed_in

    client = signed_in(app, "org_admin", ORG_A)
    paths = ["/partner/services/new"] + [p for p in page_paths(app, directory) if not p.endswith(("/remove", "/withdraw"))]
    tokens = {}
    for path in paths:
        html = client.get(path).get_data(as_text=True)
        for field, token in re.findall(r'<input[^>]*\bid="([^"]+)"[^>]*\bautocomplete="([^"]+)"', html):
            tokens.setdefault(token, set()).add(field)
    assert set(tokens) == {"off"}, tokens
    assert {"url", "email", "phone", "phone_2", "address_1", "city", "postal_code", "assurer_email"} <= tokens["off"]
