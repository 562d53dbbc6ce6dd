"""The review page's success banner says what an action did as long as it still holds, and issuing says that it
refers the patient, before and after; in real headless Chromium with axe-core.

Found on a GP's walk through the pages: issuing a suggestion whose patient agreed to a referral also sent the
referral, with their name, date of birth, NHS number and contact details (services.issue), and neither the button
nor the banner ("Suggestion issued. Print the employer letter...") said so; only the Referral row changed to
"Requested". And the browser's Back after issuing showed "Draft saved. Check it below, then issue it." above the
issued suggestion, which has no Issue button."""

from __future__ import annotations

import pytest

from tests.browser import assert_accessible, live_server, sign_in, submit
from tests.services.adjustments.conftest import suggestion_body
from tests.services.adjustments.test_confirmation_banners import banner

pytestmark = pytest.mark.timeout(180)


def test_issuing_says_it_refers_the_patient_before_and_after(app, tokens, page):
    client, h = app.test_client(), tokens.header()
    created = client.post("/suggestions", json=suggestion_body(**{"consent.refer_to_employment_adviser": True}),
                          headers=h).get_json()
    with live_server(app) as base:
        sign_in(page, base, tokens.raw(), f"/review/{created['id']}")
        assert page.locator("#issue-refers").inner_text().startswith(
            "Issuing it also refers the patient to an employment adviser, as they agreed")
        assert_accessible(page)
        submit(page, page.get_by_role("button", name="Issue the suggestion"))
        assert banner(page) == ("Success Suggestion issued Print the employer letter and the patient summary for the "
                                "patient below. The referral to an employment adviser was sent too: the adviser "
                                "service will contact the patient.")
        assert page.locator("#issue-refers").count() == 0
        assert_accessible(page)


def test_without_the_referral_consent_issuing_says_nothing_of_a_referral(app, tokens, page):
    created = app.test_client().post("/suggestions", json=suggestion_body(), headers=tokens.header()).get_json()
    with live_server(app) as base:
        sign_in(page, base, tokens.raw(), f"/review/{created['id']}")
        assert page.locator("#issue-refers").count() == 0
        submit(page, page.get_by_role("button", name="Issue the suggestion"))
        assert banner(page) == ("Success Suggestion issued Print the employer letter and the patient summary for the "
                                "patient below.")


def test_back_after_issuing_shows_no_draft_saved_banner(app, tokens, page):
    created = app.test_client().post("/suggestions", json=suggestion_body(), headers=tokens.header()).get_json()
    with live_server(app) as base:
        sign_in(page, base, tokens.raw(), f"/review/{created['id']}/change")
        submit(page, page.get_by_role("button", name="Save and preview the letter"))
        assert banner(page).startswith("Success Draft saved")
        submit(page, page.get_by_role("button", name="Issue the suggestion"))
        page.go_back()
        assert page.url.endswith("?done=saved")
        assert page.locator("#status .nhsuk-tag").inner_text() == "Issued"
        assert banner(page) == ""
        page.go_forward()
        assert banner(page).startswith("Success Suggestion issued")
