"""Partner staff keep a listing current in real headless Chromium, checked with axe-core on every page."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser import assert_accessible, live_server, submit
from tests.services.directory.conftest import ORG_A
from worklink.auth import mint_token
from worklink.uktime import uk_today


def sign_in(app, page, base: str, *, role: str = "org_admin", org=ORG_A) -> None:
    token = mint_token(app.extensions["worklink"].settings.jwt, role=role, org=str(org), subject="ada")
    page.goto(f"{base}/partner")
    page.get_by_label("Access token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your listings")


def test_partner_creates_edits_and_withdraws_a_listing(app, directory, page):
    external = []
    with live_server(app) as base:
        page.on("request", lambda r: external.append(r.url) if not r.url.startswith(base) else None)
        sign_in(app, page, base)
        assert_accessible(page)
        page.get_by_role("link", name="Add a listing").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Add a listing")
        assert_accessible(page)

        # nothing filled in: every mistake in the summary, linked to a message beside its field
        page.get_by_role("button", name="Publish listing").click()
        summary = page.get_by_role("alert")
        assert "There is a problem" in summary.inner_text()
        no_name = "Enter the service's name (2 to 255 characters)."
        expect(summary.get_by_role("link", name=no_name)).to_be_visible()
        expect(summary.get_by_role("link", name="Select at least one type of support.")).to_be_visible()
        expect(page.locator("#name-error")).to_be_visible()
        expect(page.locator("#taxonomy_term_ids-error")).to_be_visible()
        assert page.title().startswith("Error: ")
        assert_accessible(page)
        summary.get_by_role("link", name=no_name).click()
        assert page.evaluate("document.activeElement.id") == "name"

        page.get_by_label("Service name").fill("Bridgwater back to work clinic")
        page.get_by_label("Description").fill("One-to-one help to get back to work after illness.")
        page.get_by_label("How to get help").fill("Ask your GP to refer you, or call the clinic desk.")
        page.get_by_label("Employment advice").check()
        page.get_by_label("CV and interview help").check()
        page.get_by_label("Youngest age").fill("18")
        page.get_by_label("Online").check()
        page.get_by_role("button", name="Publish listing").click()
        expect(page.get_by_text("Your listing is published.")).to_be_visible()
        expect(page.get_by_role("heading", level=1)).to_have_text("Edit listing")
        service_id = page.url.split("/partner/services/")[1].split("?")[0]
        assert_accessible(page)

        page.get_by_role("link", name="Add a location").click()
        assert_accessible(page)
        page.get_by_label("Name of the place (optional)").fill("Bridgwater library")
        page.get_by_label("Address line 1").fill("Binford Place")
        page.get_by_label("Town or city").fill("Bridgwater")
        page.get_by_label("Postcode").fill("ta6 3bb")
        page.get_by_label("Accessibility (optional)").fill("Step-free entrance and a hearing loop.")
        assert "never published" in page.locator("#confidential-hint").inner_text()
        page.get_by_role("button", name="Add location").click()
        expect(page.get_by_text("The location was added.")).to_be_visible()
        assert "TA6 3BB" in page.locator("#locations + dl").inner_text()

        page.get_by_role("link", name="Add a contact").click()
        page.get_by_label("Name", exact=True).fill("Clinic desk")
        page.get_by_label("Phone number", exact=True).fill("01632 960555")
        page.get_by_label("Email address").fill("clinic@working-well.example.org")
        page.get_by_role("button", name="Add contact").click()
        expect(page.get_by_text("The contact was added.")).to_be_visible()

        page.get_by_role("link", name="Add opening times").click()
        page.get_by_label("Tuesday").check()
        page.get_by_label("Opens").fill("17:00")
        page.get_by_label("Closes").fill("09:00")
        page.get_by_role("button", name="Add opening time").click()
        message = "The closing time must be later than the opening time."
        expect(page.get_by_role("alert").get_by_role("link", name=message)).to_be_visible()
        assert message in page.locator("#closes_at-error").inner_text()
        assert page.get_by_label("Tuesday").is_checked()  # what was typed is kept
        assert_accessible(page)
        page.get_by_label("Closes").fill("19:30")
        page.get_by_role("button", name="Add opening time").click()
        expect(page.get_by_text("The opening time was added.")).to_be_visible()
        assert_accessible(page)

        # edit it: a new name, checked today; then change the opening time
        page.get_by_label("Service name").fill("Bridgwater work and health clinic")
        page.get_by_label("I have checked this listing is correct today").check()
        page.get_by_label("Oldest age").fill("1")  # a mistake first: the tick is kept with what was typed
        submit(page, page.get_by_role("button", name="Save changes"))
        assert page.title().startswith("Error: ")
        assert page.get_by_label("I have checked this listing is correct today").is_checked()
        page.get_by_label("Oldest age").fill("")
        checked_on = {uk_today()}  # the UK day the check is saved on: this one, or the next when midnight falls between
        page.get_by_role("button", name="Save changes").click()
        expect(page.get_by_text("Your changes were saved.")).to_be_visible()
        checked_on.add(uk_today())
        expect(page.locator("main")).to_contain_text(
            re.compile("Last checked: (" + "|".join(day.strftime("%-d %B %Y") for day in checked_on) + ")"))
        page.get_by_role("link", name="Change Tuesday 17:00 to 19:30").click()
        expect(page.get_by_label("Opens")).to_have_value("17:00")
        page.get_by_label("Closes").fill("20:00")
        page.get_by_role("button", name="Save changes").click()
        expect(page.get_by_text("The opening time was changed.")).to_be_visible()

        # residents see it
        page.get_by_role("link", name="See the listing as residents do").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Bridgwater work and health clinic")
        expect(page.locator("table")).to_contain_text("Tuesday")
        expect(page.locator("table")).to_contain_text("17:00 to 20:00")
        expect(page.get_by_text("Step-free entrance and a hearing loop.")).to_be_visible()
        expect(page.get_by_role("link", name="01632 960555")).to_be_visible()
        assert_accessible(page)

        # withdraw it: a confirmation step that asks why
        page.goto(f"{base}/partner/services/{service_id}")
        page.get_by_role("link", name="Withdraw this listing").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Withdraw this listing?")
        assert_accessible(page)
        page.get_by_role("button", name="Withdraw listing").click()
        no_reason = "Select why you are withdrawing this listing."
        expect(page.get_by_role("alert").get_by_role("link", name=no_reason)).to_be_visible()
        assert_accessible(page)
        page.get_by_label("The service has closed").check()
        page.get_by_role("button", name="Withdraw listing").click()
        expect(page.get_by_text("Bridgwater work and health clinic was withdrawn.")).to_be_visible()
        assert "Bridgwater work and health clinic" not in page.locator("table").inner_text()
        assert_accessible(page)
    assert external == []

    body = app.test_client().get(f"/services/{service_id}").get_json()
    assert body["status"] == "defunct" and body["organization_id"] == str(ORG_A)
    location = body["service_at_locations"][0]["location"]
    assert (location["latitude"], location["longitude"]) == (51.1280, -3.0030)  # geocoded from the postcode
    assert [(s["byday"], s["opens_at"], s["closes_at"]) for s in body["schedules"]] == [("TU", "17:00", "20:00")]
    assert body["contacts"][0]["phones"][0]["number"] == "01632 960555"
    assert {a["taxonomy_term"]["code"] for a in body["attributes"]} == {"employment-advice", "cv-interview"}
    assert body["minimum_age"] == 18 and body["assured_date"] in {day.isoformat() for day in checked_on}


def test_partner_pages_work_without_javascript(app, directory, no_js_page):
    # axe-core needs JavaScript, so this run checks only that the forms work without it
    page = no_js_page
    with live_server(app) as base:
        sign_in(app, page, base)
        page.get_by_role("link", name="Wellbeing cafe, Taunton").click()
        page.get_by_role("link", name="Add a contact").click()
        page.get_by_label("Name", exact=True).fill("Cafe host")
        page.get_by_role("button", name="Add contact").click()
        expect(page.locator("#phone-error")).to_be_visible()  # a phone number or an email is needed
        page.get_by_label("Email address").fill("cafe@working-well.example.org")
        page.get_by_role("button", name="Add contact").click()
        expect(page.get_by_text("The contact was added.")).to_be_visible()
        page.get_by_role("link", name="Remove Cafe host").click()
        page.get_by_role("button", name="Remove contact").click()
        expect(page.get_by_text("The contact was removed.")).to_be_visible()
    contacts = app.test_client().get(f"/services/{directory.ids['cafe']}").get_json()["contacts"]
    assert [c["name"] for c in contacts] == ["Advice line"]
