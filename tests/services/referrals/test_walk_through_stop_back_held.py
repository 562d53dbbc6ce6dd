"""Found on a walk through this morning (2026-11-29):
- the alliance_admin's queue offered the adviser's filters ("Mine") and no "Held referrals", the list it works.
Test client first, then real Chromium with axe-core."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser import assert_accessible, live_server, sign_in, submit
from worklink.auth import mint_token

pytestmark = pytest.mark.timeout(180)

HTML = {"Accept": "text/html"}


def filters(html: str) -> list[str]:
    nav = re.search(r'<nav aria-label="Filter the queue".*?</nav>', html, re.S).group(0)
    return re.findall(r">([^<>]+)</a>", nav)


# --- 3. the alliance's queue ---------------------------------------------------------------------------


def test_the_alliance_filters_its_queue_by_held_referrals_and_not_by_mine(harness):
    h = harness
    alliance = h.client.get("/queue", headers={**h.admin(), **HTML}).get_data(as_text=True)
    assert filters(alliance) == ["Held referrals", "New", "Breaching targets", "Waitlist", "On hold", "All"]
    assert '<a href="/queue?view=held" aria-current="page">Held referrals</a>' in alliance
    assert h.client.get("/queue?view=mine", headers={**h.admin(), **HTML}).status_code == 404
    adviser = h.client.get("/queue", headers={**h.adviser(), **HTML}).get_data(as_text=True)
    assert filters(adviser) == ["New", "Breaching targets", "Mine", "Not assigned", "Waitlist", "On hold",
                                "Holds to review", "Sustainment checks due", "All"]  # as it was


# --- in Chromium, with axe-core --------------------------------------------------------------------------


def test_in_chromium_the_alliance_opens_its_queue_on_held_referrals(harness, page):
    admin = mint_token(harness.settings.jwt, role="alliance_admin", subject="admin-1")
    with live_server(harness.app) as base:
        sign_in(page, base, admin, "/queue")
        current = page.locator('.referrals-filters a[aria-current="page"]')
        expect(current).to_have_text("Held referrals")
        expect(page.locator(".referrals-filters").get_by_role("link", name="Mine")).to_have_count(0)
        assert_accessible(page)
        submit(page, page.locator(".referrals-filters").get_by_role("link", name="All"))
        expect(page.get_by_role("heading", level=2, name="All referrals")).to_be_visible()
