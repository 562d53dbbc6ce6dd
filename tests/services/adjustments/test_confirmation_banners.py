"""Saying what was done: after saving a draft, issuing, amending and withdrawing a suggestion the review
page shows NHS.UK's success banner (post/redirect/get), in real headless Chromium with axe-core.

Found on a walk through the running system: issuing changed only the status line, easy to miss."""

from __future__ import annotations

import pytest

from tests.browser import assert_accessible, live_server, sign_in, submit
from tests.services.adjustments.conftest import suggestion_body

pytestmark = pytest.mark.timeout(180)


def banner(page) -> str:
    found = page.locator(".nhsuk-notification-banner--success")
    return " ".join(found.inner_text().split()) if found.count() else ""


def test_each_action_on_a_suggestion_ends_on_a_banner_saying_it_was_done(app, tokens, page):
    client, h = app.test_client(), tokens.header()
    created = client.post("/suggestions", json=suggestion_body(), headers=h).get_json()
    with live_server(app) as base:
        sign_in(page, base, tokens.raw(), f"/review/{created['id']}")
        assert banner(page) == ""  # only after an action
        page.get_by_role("link", name="Change the draft").click()
        submit(page, page.get_by_role("button", name="Save and preview the letter"))
        assert banner(page).startswith("Success Draft saved")

        submit(page, page.get_by_role("button", name="Issue the suggestion"))
        assert banner(page).startswith("Success Suggestion issued Print the employer letter")
        assert page.get_by_role("alert").inner_text().split()[:3] == ["Success", "Suggestion", "issued"]
        assert "done=issued" in page.url  # redirected after the post: a reload sends nothing again
        assert_accessible(page)

        page.get_by_role("link", name="Amend the suggestion").click()
        submit(page, page.get_by_role("button", name="Save and preview the letter"))
        assert banner(page).startswith("Success Suggestion amended")

        page.get_by_role("link", name="Withdraw the suggestion").click()
        page.get_by_label("Why are you withdrawing it?").select_option("patient_request")
        submit(page, page.get_by_role("button", name="Withdraw the suggestion"))
        assert banner(page).startswith("Success Suggestion withdrawn")
        assert page.locator("#status .nhsuk-tag").inner_text() == "Withdrawn"

        # Only a known code shows a banner: a crafted link puts no words of its own on the page.
        page.goto(f"{base}/review/{created['id']}?done=Suggestion+issued")
        assert banner(page) == ""


def test_a_refused_action_shows_its_error_and_no_banner(app, tokens, page):
    client, h = app.test_client(), tokens.header()
    created = client.post("/suggestions", json=suggestion_body(), headers=h).get_json()
    with live_server(app) as base:
        sign_in(page, base, tokens.raw(), f"/review/{created['id']}?done=issued&error=changed")
        assert banner(page) == "" and "changed since you opened this page" in page.locator(
            ".nhsuk-error-summary").inner_text()
