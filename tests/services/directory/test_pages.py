"""Resident and partner pages in real headless Chromium, checked with axe-core."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser import assert_accessible, live_server
from tests.services.directory.conftest import ORG_A, ORG_B, taking_referrals
from worklink.auth import mint_token


def test_resident_searches_filters_and_opens_a_service(app, directory, page):
    external = []
    with live_server(app) as base:
        page.on("request", lambda r: external.append(r.url) if not r.url.startswith(base) else None)
        page.goto(f"{base}/find")
        assert page.get_by_role("heading", level=1).inner_text() == "Find support with health and work"
        assert_accessible(page)

        page.get_by_label("What do you need help with?").fill("counseling")
        page.get_by_label("Postcode").fill("ta1 1aa")
        page.get_by_role("button", name="Search").click()
        expect(page.get_by_role("heading", name="2 services found")).to_be_visible()
        cards = page.locator(".nhsuk-card")
        assert cards.nth(0).get_by_role("link").inner_text() == "Taunton counselling service"
        assert "0.0 miles away" in cards.nth(0).inner_text()
        assert "Not yet reviewed" in cards.nth(0).inner_text()
        assert_accessible(page)

        # filters: a category and "free only" narrow the results; the form keeps what was chosen
        page.get_by_label("What do you need help with?").fill("")
        page.get_by_label("Type of support").select_option(label="Mental health and wellbeing")
        page.get_by_label("Free services only").check()
        page.get_by_role("button", name="Search").click()
        expect(page.get_by_role("heading", name="1 service found")).to_be_visible()
        assert page.get_by_label("Free services only").is_checked()
        page.get_by_label("Free services only").uncheck()
        page.get_by_label("Open on").select_option(label="Saturday")
        page.get_by_role("button", name="Search").click()
        expect(page.locator(".nhsuk-card a")).to_have_text(["Wellbeing cafe, Taunton"])  # waits for the new page

        page.get_by_role("link", name="Wellbeing cafe, Taunton").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Wellbeing cafe, Taunton")
        expect(page.get_by_role("heading", name="Opening times")).to_be_visible()
        assert "Saturday" in page.locator("table").inner_text() and "10:00 to 14:00" in page.locator("table").inner_text()
        assert page.get_by_text("Step-free access.").is_visible()
        assert page.get_by_role("link", name="01632 960001").get_attribute("href") == "tel:01632960001"
        assert page.get_by_text("£40 per course.").is_visible()
        assert_accessible(page)
        # print-friendly: printed, the page keeps the service's details and drops the navigation
        expect(page.get_by_role("link", name="Back to search")).to_be_visible()  # on screen
        page.emulate_media(media="print")
        expect(page.get_by_role("link", name="Back to search")).to_be_hidden()
        expect(page.locator(".nhsuk-header__navigation")).to_be_hidden()
        expect(page.get_by_role("heading", name="Opening times")).to_be_visible()
        assert page.get_by_text("Step-free access.").is_visible()
        page.go_back()
        expect(page.get_by_role("button", name="Search")).to_be_hidden()  # the results print without the form
        expect(page.get_by_role("link", name="Wellbeing cafe, Taunton")).to_be_visible()
    assert external == []


def test_search_and_service_page_work_without_javascript(app, directory, no_js_page):
    # axe-core needs JavaScript, so this run checks only that everything works without it
    page = no_js_page
    with live_server(app) as base:
        page.goto(f"{base}/find")
        page.get_by_label("What do you need help with?").fill("debt")
        page.get_by_label("Open on").select_option(label="Tuesday")
        page.get_by_role("button", name="Search").click()
        expect(page.get_by_role("heading", name="1 service found")).to_be_visible()
        page.get_by_role("link", name="Debt and money advice, Bridgwater").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Debt and money advice, Bridgwater")


def test_mistakes_are_explained_accessibly(app, directory, page):
    with live_server(app) as base:
        response = page.goto(f"{base}/find?q=help&postcode=nowhere&time=25:99")
        assert response.status == 400
        summary = page.get_by_role("alert")
        assert "There is a problem" in summary.inner_text()
        assert summary.get_by_role("link", name="Enter a full postcode, like TA1 1AA.").is_visible()
        assert summary.get_by_role("link", name="Enter a time, like 9:30 or 17:30.").is_visible()
        assert page.locator("#time-error").is_visible()
        assert_accessible(page)


def test_confidential_addresses_stay_hidden_on_the_service_page(app, directory):
    html = app.test_client().get(f"/find/services/{directory.ids['refuge']}").get_data(as_text=True)
    assert "The address is given when you contact the service." in html
    assert "1 High Street" not in html and "TA1 1AA" not in html


def test_partner_staff_edit_their_own_listing(app, directory, page):
    settings = app.extensions["worklink"].settings
    owner = mint_token(settings.jwt, role="org_admin", org=str(ORG_A), subject="ada")
    with live_server(app) as base:
        page.goto(f"{base}/partner")
        assert "/signin" in page.url
        page.get_by_label("Access token").fill(owner)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Your listings")
        listed = page.locator("table a").all_inner_texts()
        assert "Taunton counselling service" in listed and "Safe housing support" not in listed  # another org's
        assert_accessible(page)
        page.get_by_role("link", name="Taunton counselling service").click()
        page.get_by_label("Notice to show residents").fill("Closed on bank holidays.")
        page.get_by_label("I have checked this listing is correct today").check()
        page.get_by_role("button", name="Save changes").click()
        expect(page.get_by_text("Your changes were saved.")).to_be_visible()  # waits for the redirect's page
        assert_accessible(page)
        page.get_by_label("Service name").fill("")
        page.get_by_role("button", name="Save changes").click()
        assert "There is a problem" in page.get_by_role("alert").inner_text()
        assert_accessible(page)
        response = page.goto(f"{base}/partner/services/{directory.ids['refuge']}")
        assert response.status == 403
    body = app.test_client().get(f"/services/{directory.ids['counselling']}").get_json()
    assert body["alert"] == "Closed on bank holidays." and "assured_date" in body
    assert app.test_client().get(f"/services/{directory.ids['refuge']}").get_json()["organization_id"] == str(ORG_B)


def test_back_from_a_service_returns_to_the_same_results(app, directory, page):
    # Found on a walk through the running system: "Back to search" opened an empty search, so a resident
    # comparing services typed their words, postcode and filters again for each one.
    with live_server(app) as base:
        page.goto(f"{base}/find")
        page.get_by_label("What do you need help with?").fill("counselling")
        page.get_by_label("Postcode").fill("TA1 1AA")
        page.get_by_role("button", name="Search").click()
        found = ["Taunton counselling service", "Debt and money advice, Bridgwater"]
        expect(page.locator(".nhsuk-card a")).to_have_text(found)  # waits for the results page
        page.get_by_role("link", name="Taunton counselling service").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Taunton counselling service")
        assert_accessible(page)
        page.get_by_role("link", name="Back to search results").click()
        expect(page.locator(".nhsuk-card a")).to_have_text(found)
        assert page.get_by_label("What do you need help with?").input_value() == "counselling"
        assert page.get_by_label("Postcode").input_value() == "TA1 1AA"
        page.goto(f"{base}/find/services/{directory.ids['counselling']}")  # reached from elsewhere
        assert page.get_by_role("link", name="Back to search").get_attribute("href") == "/find"


def test_a_service_taking_referrals_lets_a_resident_refer_themselves(app, directory, page):
    # Found on a walk through the running system: the referrals service's self-referral form was linked
    # from nowhere a resident goes, so "residents can refer themselves" had no way in.
    import uuid
    from worklink_directory.models import ServiceCapacity

    counselling = directory.ids["counselling"]
    taking_referrals(app, counselling)
    with live_server(app) as base:
        page.goto(f"{base}/find/services/{counselling}")
        refer = page.get_by_role("link", name="Refer yourself to this service")
        assert refer.get_attribute("href").startswith(
            f"https://referrals.example/refer-yourself?service_id={counselling}&service=Taunton+counselling+service&")
        assert_accessible(page)
        with app.extensions["worklink"].database.transaction() as session:
            session.get(ServiceCapacity, uuid.UUID(counselling)).accepting_referrals = False  # intake paused
        page.reload()
        assert page.get_by_text("Not taking new referrals at the moment.").is_visible()
        assert page.get_by_role("link", name="Refer yourself to this service").count() == 0
        page.goto(f"{base}/find/services/{directory.ids['cafe']}")  # not an adviser service: no capacity
        assert page.get_by_role("link", name="Refer yourself to this service").count() == 0


def test_the_refer_yourself_link_names_the_service_signed_for_the_referrals_form(app, directory):
    """The referrals site knows services by id only: the link carries the names this page shows, signed, and
    the referrals service (its own settings, the same platform key) reads them back for that service only."""
    import re
    from html import unescape
    from urllib.parse import parse_qsl, urlsplit

    from worklink.config import Settings
    from worklink.sites import named_service, site_link_keys

    counselling = directory.ids["counselling"]
    taking_referrals(app, counselling, open_referrals=0)
    html = app.test_client().get(f"/find/services/{counselling}").get_data(as_text=True)
    href = unescape(re.search(r'href="([^"]*/refer-yourself[^"]*)"', html).group(1))
    query = dict(parse_qsl(urlsplit(href).query))
    organisation = re.search(r'<span class="nhsuk-caption-l">([^<]+)</span>', html).group(1)
    referrals_key = site_link_keys(Settings.from_env("referrals", {}))
    assert named_service(referrals_key, query) == ("Taunton counselling service", unescape(organisation))
    assert named_service(referrals_key, {**query, "service_id": directory.ids["cafe"]}) is None
    assert named_service(referrals_key, {**query, "service": "Another service"}) is None


def test_the_referrals_site_defaults_to_the_local_one_outside_production_only():
    from worklink_directory.app import referrals_url
    assert referrals_url({}, "development") == "http://127.0.0.1:8083"
    assert referrals_url({}, "production") == ""
    assert referrals_url({"DIRECTORY_REFERRALS_URL": "https://refer.example.org/"}, "production") \
        == "https://refer.example.org"
