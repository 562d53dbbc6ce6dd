"""The self-referral form reached from a directory service page, in real headless Chromium: it names the
service and its organisation, and at 320 CSS px (WCAG 2.2 1.4.10 Reflow) it never scrolls sideways, even with
the long words real service and organisation names have.

Found in the pages audit of 27 November: a long signed name widened the page to 960 px."""

from __future__ import annotations

import pytest

from tests.browser import assert_accessible, live_server, submit
from tests.services.referrals.conftest import SERVICE
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
