"""A person's rights in real headless Chromium, checked with axe-core at every step: a practice's
organisation admin signs in, lands on the rights page, downloads what is held about a patient and erases it
after giving the reason and confirming; and the same erasure without JavaScript."""

from __future__ import annotations

import json

import pytest

from tests.browser import assert_accessible, live_server, sign_in, submit
from tests.people_rights import erase_without_javascript
from tests.services.adjustments.conftest import PRACTICE, VALID_NHS
from tests.services.adjustments.test_people_rights import SPACED, admin, sam
from tests.services.adjustments.test_retention import row

pytestmark = pytest.mark.timeout(180)


def test_a_practice_admin_finds_downloads_and_erases_a_patients_details(app, client, tokens, page):
    first, second, other = sam(app, client, tokens)
    with live_server(app) as base:
        sign_in(page, base, tokens.raw(role="org_admin", org=PRACTICE, subject="ig-lead"))
        assert page.get_by_role("heading", level=1).inner_text() == "A person's rights"  # an admin's home
        assert page.get_by_role("navigation", name="Menu").get_by_role("link", name="A person's rights").count() == 1
        assert_accessible(page)

        page.get_by_label("NHS number").fill("943 476")
        submit(page, page.get_by_role("button", name="Find what is held"))
        link = page.get_by_role("alert").get_by_role("link", name="Enter the NHS number as 10 digits")
        assert link.get_attribute("href") == "#nhs_number"
        assert_accessible(page)

        page.get_by_label("NHS number").fill(SPACED)
        submit(page, page.get_by_role("button", name="Find what is held"))
        assert page.get_by_role("heading", level=1).inner_text() == "What is held about this patient"
        assert "Sam Patel" in page.locator("#person").inner_text() and VALID_NHS not in page.url
        assert_accessible(page)

        with page.expect_download() as downloading:
            page.get_by_role("button", name="Download everything (JSON)").click()
        with open(downloading.value.path()) as saved:
            assert [s["id"] for s in json.load(saved)["suggestions"]] == [first]  # their own practice's

        submit(page, page.get_by_role("button", name="Erase their details"))
        assert_accessible(page)
        page.get_by_label("They withdrew the consent the processing relied on").check()
        submit(page, page.get_by_role("button", name="Continue"))
        assert page.get_by_role("heading", level=1).inner_text() == "Erase this patient's details?"
        assert_accessible(page)
        submit(page, page.get_by_role("button", name="Erase their details"))
        assert page.get_by_role("heading", level=1).inner_text() == "Their details were erased"
        assert_accessible(page)
    assert [row(app, sid)["erased_at"] is not None for sid in (first, second, other)] == [True, False, False]


def test_erasure_works_without_javascript(app, client, tokens, no_js_page):
    page = no_js_page
    first, second, _ = sam(app, client, tokens)
    with live_server(app) as base:
        sign_in(page, base, tokens.raw(role="alliance_admin", org=None, subject="dpo-1"))
        page.get_by_label("NHS number").fill(VALID_NHS)
        erase_without_javascript(page)
    assert client.post("/people/subject-access", json={"nhs_number": VALID_NHS},
                       headers=admin(tokens)).status_code == 404
