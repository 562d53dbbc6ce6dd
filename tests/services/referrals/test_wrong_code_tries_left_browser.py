"""A resident on a small phone (320 CSS px, WCAG 1.4.10) who mistypes the code, in real headless Chromium: the error
summary says how many tries are left and its link reaches the code box; the right code then sends the referral, and
the status page reflows and passes axe."""

from __future__ import annotations

import pytest

from tests.browser import assert_accessible, live_server, submit
from tests.services.referrals.conftest import fill_the_self_referral_form

pytestmark = pytest.mark.timeout(180)


def test_a_mistyped_code_on_a_small_phone_says_the_tries_left_and_the_right_one_sends(harness, page):
    page.set_viewport_size({"width": 320, "height": 640})
    with live_server(harness.app) as base:
        page.goto(f"{base}/refer-yourself")
        fill_the_self_referral_form(page)
        submit(page, page.get_by_role("button", name="Continue"))
        code = page.locator("#dev-code").inner_text()
        wrong = "000001" if code != "000001" else "000002"
        page.get_by_label("Code").fill(wrong)
        submit(page, page.get_by_role("button", name="Send my referral"))
        said = page.get_by_role("alert").get_by_role(
            "link", name="That code is not right. Check the message and try again. You have 4 more tries.")
        assert said.get_attribute("href") == "#code"
        assert page.title().startswith("Error: Check your email")
        assert page.evaluate("document.documentElement.scrollWidth") <= 320
        assert_accessible(page)
        said.click()
        assert page.evaluate("document.activeElement.id") == "code"
        assert page.get_by_label("Code").input_value() == wrong  # kept, to spot the slip

        page.get_by_label("Code").fill(code)
        submit(page, page.get_by_role("button", name="Send my referral"))
        assert page.get_by_role("heading", level=1).inner_text() == "Referral sent"
        assert not {"Tom", "Baker"} & set(page.title().split())  # no name in the tab or history
        assert page.evaluate("document.documentElement.scrollWidth") <= 320
        assert_accessible(page)
