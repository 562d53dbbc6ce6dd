"""In Chromium with axe-core, and with JavaScript off: removing a refuge's place says that its address goes and
that WorkLink will no longer know it is confidential, and removes it (test_confidential_removal.py)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser import assert_accessible, live_server, sign_in, submit
from tests.services.directory.conftest import ORG_B
from tests.services.directory.test_partner_confidential_postcode import locations, stored
from worklink.auth import mint_token


@pytest.mark.parametrize("javascript", [True, False])
def test_removing_a_confidential_place_says_it_is_forgotten(app, directory, request, javascript):
    page = request.getfixturevalue("page" if javascript else "no_js_page")
    refuge = directory.ids["refuge"]
    (place,) = locations(app, refuge)
    token = mint_token(app.extensions["worklink"].settings.jwt, role="org_admin", org=str(ORG_B), subject="bea")
    with live_server(app) as base:
        sign_in(page, base, token, f"/partner/services/{refuge}/locations/{place['id']}/remove")
        expect(page.get_by_role("heading", level=1)).to_have_text("Remove this location?")
        callout = page.locator(".nhsuk-warning-callout")
        expect(callout.get_by_role("heading", level=2)).to_have_text("Important: This is a confidential address")
        expect(callout).to_contain_text("WorkLink will then no longer know that TA1 1AA is a confidential address")
        if javascript:
            assert_accessible(page)
        submit(page, page.get_by_role("button", name="Remove location"))
        expect(page.get_by_text("The location was removed.")).to_be_visible()
    assert stored(app, place["id"]) is None
