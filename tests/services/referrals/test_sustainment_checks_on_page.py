"""In real headless Chromium, checked with axe-core: an adviser follows 'Sustainment checks due' to a referral and
its page says which check is due, since when, and the next one; recording the outcome for the check marks it done.
The page said nothing of the checks: which to pick in 'Sustainment check this records (weeks)' was a guess. The
referrer, and the adviser once consent is withdrawn, are not shown them (a check tells a job start)."""

from __future__ import annotations

import pytest

from worklink.auth import mint_token
from tests.browser import assert_accessible, live_server, sign_in, submit
from tests.services.referrals.conftest import ADVISERS, GP_PRACTICE

pytestmark = pytest.mark.timeout(180)


def started_work(h) -> tuple[str, str]:
    created = h.refer().get_json()
    rid = created["id"]
    h.signs_in("adviser-ada")
    assert h.act(rid, "accept", adviser_id="adviser-ada").status_code == 200
    assert h.act(rid, "make_first_contact").status_code == 200
    assert h.act(rid, "record_outcome", type="job_start", occurred_on="2026-11-23",
                 hours_band="30_plus").status_code == 200
    h.clock.advance(days=92)  # 13 weeks and a day after the job start
    return rid, created["reference"]


def test_the_due_check_is_named_on_the_referral_page_and_recording_it_marks_it_done(harness, page):
    h = harness
    rid, reference = started_work(h)
    ada = mint_token(h.settings.jwt, role="adviser", org=ADVISERS, subject="adviser-ada")
    with live_server(h.app) as base:
        sign_in(page, base, ada, "/queue?view=checks_due")
        submit(page, page.get_by_role("link", name=reference))
        checks = page.get_by_role("heading", name="Sustainment checks").locator("xpath=following-sibling::ul[1]")
        assert checks.get_by_role("listitem").all_inner_texts() == [
            "13-week check: due now (since 22 Feb 2027)", "26-week check: due 24 May 2027"]
        assert_accessible(page)
        page.locator("#record_outcome-type").select_option("stayed_in_work")
        page.locator("#record_outcome-sustainment_check_weeks").select_option("13")
        submit(page, page.get_by_role("button", name="Record outcome"))
        assert checks.get_by_role("listitem").first.inner_text() == "13-week check: done 23 Feb 2027"


def test_the_referrer_and_an_adviser_after_withdrawal_are_not_shown_the_checks(harness, page):
    h = harness
    rid, _ = started_work(h)
    gp = mint_token(h.settings.jwt, role="gp", org=GP_PRACTICE, subject="gp-1")
    ada = mint_token(h.settings.jwt, role="adviser", org=ADVISERS, subject="adviser-ada")
    with live_server(h.app) as base:
        sign_in(page, base, gp, f"/queue/{rid}")
        assert page.get_by_role("heading", name="Sustainment checks").count() == 0
        assert h.client.post(f"/referrals/{rid}/consent-withdrawal", headers=h.adviser()).status_code == 200
        sign_in(page, base, ada, f"/queue/{rid}")
        assert page.get_by_role("heading", name="Sustainment checks").count() == 0
