"""In real headless Chromium, checked with axe-core: a team lead's queue shows on each row who holds the referral, a
hold's review date (an overdue one tagged in words) and a sustainment check due, filters to the unassigned and the
held ones, and at 320 CSS px (WCAG 1.4.10) the rows stack under their headings instead of scrolling sideways."""

from __future__ import annotations

import pytest

from worklink.auth import mint_token
from tests.browser import assert_accessible, live_server, sign_in, submit, width_at
from tests.services.referrals.conftest import ADVISERS
from tests.services.referrals.test_queue_who_holds import team_queue

pytestmark = pytest.mark.timeout(180)


def row_of(page, reference: str) -> dict[str, str]:
    """A row's cells by their column heading (the table's own headers, as a screen reader pairs them)."""
    headings = page.locator("table thead th").all_inner_texts()
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=reference))
    cells = row.get_by_role("cell").evaluate_all(
        "cells => cells.map(c => { const t = c.cloneNode(true);"
        " t.querySelectorAll('.nhsuk-table-responsive__heading').forEach(h => h.remove());"
        " return t.innerText.replace(/\\s+/g, ' ').trim(); })")
    return dict(zip(headings, cells))


def test_the_team_leads_queue_says_who_holds_each_referral_holds_and_checks_due(harness, page):
    h = harness
    ids = team_queue(h)
    references = {kind: h.client.get(f"/referrals/{rid}", headers=h.adviser()).get_json()["reference"]
                  for kind, rid in ids.items()}
    lead = mint_token(h.settings.jwt, role="org_admin", org=ADVISERS, subject="lead-1")
    with live_server(h.app) as base:
        sign_in(page, base, lead, "/queue?view=all")
        headers = page.locator("table thead th")
        assert headers.all_inner_texts() == ["Reference", "Person", "Status", "Adviser", "Hold review",
                                             "Sustainment check", "Area", "Submitted", "Targets missed"]
        assert {headers.nth(i).get_attribute("scope") for i in range(headers.count())} == {"col"}
        assert row_of(page, references["new"])["Adviser"] == "Not assigned"
        assert row_of(page, references["held_by_sam"])["Adviser"] == "Sam Patel (sam.p)"
        assert row_of(page, references["hold_overdue"])["Hold review"] == "Review overdue was due 25 Nov 2026"
        assert row_of(page, references["hold_later"])["Hold review"] == "Review on 29 Mar 2027"
        assert row_of(page, references["check_due"])["Sustainment check"] == "13-week check due since 22 Feb 2027"
        page.set_viewport_size({"width": 1024, "height": 800})  # nine columns on a laptop: a reference stays whole
        assert page.locator("tbody tr a").evaluate_all("links => links.map(a => a.getClientRects().length)") == [
            1] * len(ids), "a reference broke over two lines (at its hyphen)"
        # A status is a tag with words, never a colour alone.
        assert sorted(page.locator("strong.nhsuk-tag").all_inner_texts()) == ["13-week check due", "Review overdue"]
        assert_accessible(page)

        submit(page, page.get_by_role("link", name="On hold", exact=True))
        assert page.get_by_role("heading", name="Referrals on hold").is_visible()
        assert page.get_by_role("link", name="On hold", exact=True).get_attribute("aria-current") == "page"
        assert page.locator("tbody tr a").all_inner_texts() == [
            references["hold_overdue"], references["hold_later"]]
        assert "soonest review first" in page.locator("caption").inner_text()
        submit(page, page.get_by_role("link", name="Not assigned", exact=True))
        assert page.locator("tbody tr a").all_inner_texts() == [references["new"]]

        submit(page, page.get_by_role("link", name="All", exact=True))
        assert width_at(page) <= 320  # nine columns: stacked under their headings, not scrolled sideways
        assert row_of(page, references["hold_overdue"])["Hold review"] == "Review overdue was due 25 Nov 2026"
        assert_accessible(page)
