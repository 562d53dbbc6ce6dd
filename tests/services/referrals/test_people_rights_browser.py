"""A person's rights in real headless Chromium, checked with axe-core at every step: the alliance admin
finds a person from the navigation, downloads what is held, and erases it after giving the reason and
confirming; and the same erasure without JavaScript."""

from __future__ import annotations

import json

import pytest

from tests.browser import assert_accessible, live_server, sign_in, submit, width_at
from tests.people_rights import erase_without_javascript
from tests.services.referrals.test_people_rights import ADA, ada_history
from worklink.auth import mint_token

pytestmark = pytest.mark.timeout(180)


def test_the_admin_finds_downloads_and_erases_a_persons_details(harness, page):
    h = harness
    first, second = ada_history(h)
    admin = mint_token(h.settings.jwt, role="alliance_admin", subject="dpo-1")
    with live_server(h.app) as base:
        sign_in(page, base, admin, "/queue?view=held")
        submit(page, page.get_by_role("navigation", name="Menu").get_by_role("link", name="A person's rights"))
        assert page.get_by_role("heading", level=1).inner_text() == "A person's rights"
        assert_accessible(page)

        submit(page, page.get_by_role("button", name="Find what is held"))  # nothing entered
        link = page.get_by_role("alert").get_by_role("link", name="Enter their NHS number, or the id of one of "
                                                                  "their referrals")
        assert link.get_attribute("href") == "#nhs_number"
        assert_accessible(page)

        page.get_by_label("NHS number", exact=True).fill(ADA["nhs_number"])
        submit(page, page.get_by_role("button", name="Find what is held"))
        assert page.get_by_role("heading", level=1).inner_text() == "What is held about this person"
        assert "Ada Lovelace" in page.locator("#person").inner_text()
        assert "?" not in page.url and ADA["nhs_number"] not in page.url
        assert_accessible(page)
        assert width_at(page) <= 320  # six-column tables: stacked, not scrolled sideways
        assert_accessible(page)
        page.set_viewport_size({"width": 1280, "height": 800})

        with page.expect_download() as downloading:
            page.get_by_role("button", name="Download everything (JSON)").click()
        download = downloading.value
        assert download.suggested_filename.startswith("subject-access-referrals-")
        with open(download.path()) as saved:
            assert [r["id"] for r in json.load(saved)["referrals"]] == [first, second]

        submit(page, page.get_by_role("button", name="Erase their details"))
        submit(page, page.get_by_role("button", name="Continue"))  # no reason chosen
        assert page.get_by_role("alert").get_by_role("link").get_attribute("href") == "#reason"
        assert_accessible(page)
        page.get_by_label("They object to the processing").check()
        submit(page, page.get_by_role("button", name="Continue"))
        assert page.get_by_role("heading", level=1).inner_text() == "Erase this person's details?"
        assert "This cannot be undone" in page.content()
        assert_accessible(page)
        submit(page, page.get_by_role("button", name="Erase their details"))
        assert page.get_by_role("heading", level=1).inner_text() == "Their details were erased"
        assert page.locator("#erased tbody tr").count() == 2
        assert width_at(page) <= 320
        assert_accessible(page)
    erased = h.client.post("/people/subject-access", json={"referral_id": second}, headers=h.admin()).get_json()
    assert erased["referrals"][0]["erased_at"] and erased["referrals"][0]["person"]["given_name"] is None


def test_erasure_works_without_javascript(harness, no_js_page):
    h, page = harness, no_js_page
    first, second = ada_history(h)
    with live_server(h.app) as base:
        sign_in(page, base, mint_token(h.settings.jwt, role="alliance_admin", subject="dpo-1"), "/people")
        page.get_by_label("Or, if no NHS number is held, the id of one of their referrals").fill(second)
        erase_without_javascript(page)
    assert h.client.post("/people/subject-access", json={"nhs_number": ADA["nhs_number"]},
                         headers=h.admin()).status_code == 404
