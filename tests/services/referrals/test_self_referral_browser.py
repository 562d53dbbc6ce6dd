"""The self-referral form reached from a directory service page, in real headless Chromium: it names the
service and its organisation, and at 320 CSS px (WCAG 2.2 1.4.10 Reflow) it never scrolls sideways, even with
the long words real service and organisation names have.

Found in the pages audit of 27 November: a long signed name widened the page to 960 px."""

from __future__ import annotations

import pytest

from tests.browser import assert_accessible, live_server, submit
from tests.services.referrals.conftest import SERVICE, fill_the_self_referral_form
from worklink.sites import self_referral_link, site_link_key

pytestmark = pytest.mark.timeout(180)

LONG_NAME = "Selbsthilfegruppenunterstützungsangebotsverzeichniseintrag employment advice"
LONG_ORGANISATION = "Somersetworkingwellpartnershipforemploymentandhealth"


def test_the_form_naming_a_long_service_reflows_at_320_px(harness, page):
    link = self_referral_link("", site_link_key(harness.settings), SERVICE, LONG_NAME, LONG_ORGANISATION)
    page.set_viewport_size({"width": 320, "height": 800})
    with live_server(harness.app) as base:
        page.goto(base + link)
        assert page.get_by_role("heading", level=1).inner_text() == f"Refer yourself to {LONG_NAME}"
        assert page.evaluate("document.documentElement.scrollWidth") <= 320
        assert_accessible(page)

        submit(page, page.get_by_role("button", name="Continue"))  # refused: the names stay, and still reflow
        assert page.title().startswith(f"Error: Refer yourself to {LONG_NAME}")
        assert page.evaluate("document.documentElement.scrollWidth") <= 320
        assert_accessible(page)


def test_the_person_is_asked_about_emails_and_stops_or_starts_them_on_their_page(harness, page):
    """Status emails are a choice of the person's own: asked on the form with nothing chosen (an answer is
    needed), and changed on their status page with one button either way."""
    with live_server(harness.app) as base:
        page.goto(f"{base}/refer-yourself")
        emails = page.get_by_role("group", name="Can we email you updates about your referral?")
        assert not emails.get_by_label("Yes").is_checked() and not emails.get_by_label("No").is_checked()
        fill_the_self_referral_form(page, email="tom@example.org", updates_by_email=None)  # emails: unanswered
        submit(page, page.get_by_role("button", name="Continue"))
        missing = page.get_by_role("alert").get_by_role(
            "link", name="Select yes if we can email you updates about your referral")
        assert missing.get_attribute("href") == "#updates_by_email"
        assert_accessible(page)
        missing.click()
        assert page.evaluate("document.activeElement.id") == "updates_by_email"  # the summary reaches the question

        page.get_by_role("group", name="Can we email you updates about your referral?").get_by_label("No").check()
        submit(page, page.get_by_role("button", name="Continue"))
        page.get_by_label("Code").fill(page.locator("#dev-code").inner_text())
        submit(page, page.get_by_role("button", name="Send my referral"))
        assert "We do not email you about your referral" in page.locator("main").inner_text()
        assert_accessible(page)

        submit(page, page.get_by_role("button", name="Email me updates about my referral"))
        assert "We will email you updates" in page.get_by_role("alert").inner_text()
        assert_accessible(page)
        submit(page, page.get_by_role("button", name="Stop emails about my referral"))
        assert "We will not email you updates" in page.get_by_role("alert").inner_text()
        assert page.get_by_role("button", name="Email me updates about my referral").is_visible()
