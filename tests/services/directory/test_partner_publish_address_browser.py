"""In Chromium with axe-core, and with JavaScript off: unticking "Keep this address confidential" on a refuge's
change page asks before its address is published (before 2026-11-27 saving published it at once)."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser import assert_accessible, live_server, sign_in, submit
from tests.services.directory.conftest import ORG_B
from tests.services.directory.test_partner_confidential_postcode import locations, stored
from worklink.auth import mint_token


def open_refuge_location(app, directory, page, base: str) -> str:
    refuge = directory.ids["refuge"]
    (place,) = locations(app, refuge)
    token = mint_token(app.extensions["worklink"].settings.jwt, role="org_admin", org=str(ORG_B), subject="bea")
    sign_in(page, base, token, f"/partner/services/{refuge}/locations/{place['id']}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Change location")
    return place["id"]


def untick_and_save(page) -> None:
    page.get_by_label("Accessibility (optional)").fill("Step-free access. Ring the bell.")
    page.get_by_label("Keep this address confidential").uncheck()
    submit(page, page.get_by_role("button", name="Save changes"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Publish the address of Taunton centre?")


def test_the_confirmation_page_says_what_becomes_public_and_no_keeps_it_confidential(app, directory, page):
    with live_server(app) as base:
        place = open_refuge_location(app, directory, page, base)
        untick_and_save(page)
        callout = page.locator(".nhsuk-warning-callout")
        expect(callout.get_by_role("heading", level=2)).to_have_text("Important: Anyone will be able to see this "
                                                                     "address")
        expect(callout).to_contain_text("1 High Street, Taunton, TA1 1AA, its accessibility notes and its position "
                                        "on a map will be shown")
        expect(callout).to_contain_text("the open data feed (the Open Referral UK API)")
        expect(callout).to_contain_text("\"listing updated\" event")
        assert_accessible(page)
        assert stored(app, place).confidential is True  # nothing changed yet
        submit(page, page.get_by_role("link", name="No, keep it confidential"))
        expect(page.get_by_text("Nothing was saved: the address is still confidential.")).to_be_visible()
        expect(page.get_by_text("The address is never published.")).to_be_visible()
        assert_accessible(page)
    assert stored(app, place).confidential is True and stored(app, place).accessibility == "Step-free access."


def test_yes_publishes_the_address_and_the_pending_edit(app, directory, page):
    with live_server(app) as base:
        place = open_refuge_location(app, directory, page, base)
        untick_and_save(page)
        submit(page, page.get_by_role("button", name="Yes, publish the address"))
        expect(page.get_by_text("The location was changed.")).to_be_visible()
        expect(page.get_by_text("The address is never published.")).to_have_count(0)
        assert_accessible(page)
    assert stored(app, place).confidential is False
    assert stored(app, place).accessibility == "Step-free access. Ring the bell."


def test_the_confirmation_works_without_javascript(app, directory, no_js_page):
    page = no_js_page
    with live_server(app) as base:
        place = open_refuge_location(app, directory, page, base)
        untick_and_save(page)
        assert stored(app, place).confidential is True
        submit(page, page.get_by_role("button", name="Yes, publish the address"))
        expect(page.get_by_text("The location was changed.")).to_be_visible()
    assert stored(app, place).confidential is False
    assert stored(app, place).accessibility == "Step-free access. Ring the bell."
