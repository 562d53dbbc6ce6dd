"""The development sign-in page every service shares, against WCAG 2.2 criteria axe-core cannot judge, in real
headless Chromium: 3.3.8 Accessible Authentication (no test to solve or remember; the token is pasted, as a
password manager or a copy from `worklink token` would put it) and 3.3.1/3.3.3 (a refused token)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser import assert_accessible, error_summary_problems, keyboard_problems, live_server, submit
from tests.platform.support import pages_app
from tests.platform.test_pages import pages
from worklink.auth import mint_token
from worklink.config import Settings

pytestmark = pytest.mark.timeout(120)


@pytest.fixture()
def settings(tmp_path):
    return Settings.from_env("demo", {"WORKLINK_VAR": str(tmp_path)})


def test_3_3_8_the_token_is_pasted_and_nothing_else_is_asked(settings, browser):
    app = pages_app(settings, pages)
    token = mint_token(settings.jwt, role="adviser", org="org-1", subject="ada")
    context = browser.new_context(permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    try:
        with live_server(app) as base:
            page.goto(f"{base}/signin?next=/caseload")
            asked = page.locator("main form :is(input, textarea, select):not([type=hidden])")
            assert asked.count() == 1 and asked.get_attribute("id") == "token"  # no puzzle, no second factor here
            assert asked.get_attribute("autocomplete") in (None, "on")  # a password manager may fill it
            page.evaluate("text => navigator.clipboard.writeText(text)", token)
            asked.focus()
            page.keyboard.press("ControlOrMeta+V")
            assert asked.input_value() == token  # the paste is not refused
            submit(page, page.get_by_role("button", name="Sign in"))
            assert page.get_by_role("heading", level=1).inner_text() == "Caseload for ada"
    finally:
        context.close()


def test_3_3_1_2_4_3_a_refused_token_is_linked_and_the_page_works_by_keyboard(settings, page):
    app = pages_app(settings, pages)
    with live_server(app) as base:
        page.goto(f"{base}/signin")
        assert keyboard_problems(page) == []
        page.get_by_label("Access token").fill("not a token")
        submit(page, page.get_by_role("button", name="Sign in"))
        assert error_summary_problems(page) == []


def test_3_3_1_a_staff_token_naming_no_organisation_is_refused_with_the_reason(settings, page):
    """Verification refuses a GP's, adviser's or org admin's token without an org claim: sign-in says why."""
    app = pages_app(settings, pages)
    with live_server(app) as base:
        page.goto(f"{base}/signin?next=/caseload")
        page.get_by_label("Access token").fill(mint_token(settings.jwt, role="gp", subject="ada"))
        submit(page, page.get_by_role("button", name="Sign in"))
        expect(page.locator(".nhsuk-error-summary")).to_contain_text(
            "A gp's access token must name the organisation they act for (org claim).")
        expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
        assert error_summary_problems(page) == []
        assert_accessible(page)
