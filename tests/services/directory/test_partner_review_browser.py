"""In Chromium with axe-core: the address a partner publishes with a check, and the question the location form
asks at the postcode of one of the organisation's confidential places."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser import assert_accessible, live_server, sign_in, submit
from tests.services.directory.conftest import ORG_A, ORG_B, service_body, token_for
from worklink.auth import mint_token


def partner_token(app, org) -> str:
    return mint_token(app.extensions["worklink"].settings.jwt, role="org_admin", org=str(org), subject="lee",
                      email="lee.personal@example.org")


def test_a_check_publishes_the_address_the_partner_gives(app, directory, page):
    debt = directory.ids["debt"]
    with live_server(app) as base:
        sign_in(page, base, partner_token(app, ORG_A), f"/partner/services/{debt}")
        field = page.get_by_label("Email address for questions about this check (optional)")
        expect(field).to_be_empty()
        expect(page.get_by_text("If you leave it empty, we publish no address.")).to_be_visible()
        field.fill("team@org-a.example.org")
        submit(page, page.get_by_role("button", name="Save changes"))  # the box left unticked
        expect(page.get_by_role("alert").get_by_role("link", name="Tick this box if you have checked the listing "
                                                     "today, or leave the email address for questions about the "
                                                     "check empty.")).to_be_visible()
        expect(field).to_have_value("team@org-a.example.org")
        assert_accessible(page)
        page.get_by_label("I have checked this listing is correct today").check()
        submit(page, page.get_by_role("button", name="Save changes"))
        expect(page.get_by_text("The open data feed gives team@org-a.example.org as the address to ask about "
                                "that check.")).to_be_visible()
        assert_accessible(page)
    assert app.test_client().get(f"/services/{debt}").get_json()["assurer_email"] == "team@org-a.example.org"


def test_a_place_at_a_confidential_postcode_is_asked_about_with_the_box_ticked(app, directory, page):
    created = app.test_client().post("/manage/services", headers=token_for(app, "alliance_admin"),
                                     json=service_body(ORG_B, "Outreach support", ["carers"]))
    outreach = created.get_json()["id"]  # ORG_B's refuge, another listing, is at TA1 1AA
    with live_server(app) as base:
        sign_in(page, base, partner_token(app, ORG_B), f"/partner/services/{outreach}/locations/new")
        page.get_by_label("Address line 1").fill("5 Quiet Lane")
        page.get_by_label("Town or city").fill("Taunton")
        page.get_by_label("Postcode").fill("ta1 1aa")
        submit(page, page.get_by_role("button", name="Add location"))
        warning = ("Your organisation has a confidential place at TA1 1AA, so we have ticked this box. Save again "
                   "to keep this address confidential too, or untick it if residents may see this address.")
        expect(page.get_by_role("alert").get_by_role("link", name=warning)).to_be_visible()
        expect(page.get_by_label("Keep this address confidential")).to_be_checked()
        expect(page.get_by_label("Address line 1")).to_have_value("5 Quiet Lane")
        assert_accessible(page)
        submit(page, page.get_by_role("button", name="Add location"))
        expect(page.get_by_text("The location was added.")).to_be_visible()
        expect(page.get_by_text("The address is never published.")).to_be_visible()
    (place,) = [sal["location"] for sal in
                app.test_client().get(f"/services/{outreach}").get_json()["service_at_locations"]]
    assert "addresses" not in place and "latitude" not in place
