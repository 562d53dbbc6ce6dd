"""A suggestion is replaced on the pages after a new assessment: from the issued one's review page, through guidance,
to a new suggestion for the same patient that ends the older one and its employer link when issued; in real
headless Chromium with axe-core.

Found on a GP's walk through the pages: only the API could write a replacement (`supersedes_id`). A new suggestion
written on the pages for the same patient left the older one issued, its letter and employer reply link live
beside the new one's, and every detail of the patient had to be typed again."""

from __future__ import annotations

import re

import pytest

from tests.browser import assert_accessible, error_summary_problems, live_server, sign_in, submit
from tests.services.adjustments.conftest import VALID_NHS, suggestion_body

pytestmark = pytest.mark.timeout(180)


def test_a_new_assessment_replaces_the_issued_suggestion(app, tokens, page):
    client, h = app.test_client(), tokens.header()
    older = client.post("/suggestions", json=suggestion_body(), headers=h).get_json()
    assert client.post(f"/suggestions/{older['id']}/issue", json={"version": 1}, headers=h).status_code == 200
    with live_server(app) as base:
        sign_in(page, base, tokens.raw(), f"/review/{older['id']}")
        submit(page, page.get_by_role("link", name="Write a new suggestion to replace this one"))
        page.get_by_label("Condition, difficulty or task").fill("night shifts")
        submit(page, page.get_by_role("button", name="Search guidance"))
        page.get_by_label("No night shifts").check()
        submit(page, page.get_by_role("button", name="Use these adjustments"))

        assert page.locator("#which").inner_text().startswith("Replaces the suggestion for Sam Patel, assessed on ")
        assert [page.get_by_label(label).input_value() for label in ("NHS number", "First name", "Last name")] == [
            VALID_NHS, "Sam", "Patel"]
        assert page.get_by_label("Job title (optional)").input_value() == "Warehouse supervisor"
        assert_accessible(page)
        page.get_by_label("Condition affecting fitness for work").first.fill("Depression")
        page.get_by_label("Functional effects, in plain words").fill("Sleeps badly; alert only from late morning.")
        page.get_by_label("Or for this many days").fill("28")
        page.get_by_label("Your name").fill("Dr Ada Lovelace")
        page.get_by_label("Doctor").check()
        page.get_by_label("NHS number").fill("9434765870")  # another patient's: a replacement is for the same one
        submit(page, page.get_by_role("button", name="Save and preview the letter"))
        assert error_summary_problems(page) == []
        assert page.get_by_role("alert").get_by_role("link", name=re.compile("is for another patient")).get_attribute(
            "href") == "#patient-nhs_number"
        page.get_by_label("NHS number").fill(VALID_NHS)
        submit(page, page.get_by_role("button", name="Save and preview the letter"))
        assert page.locator(".wl-replacement").inner_text().startswith("Will replace the suggestion of ")
        submit(page, page.get_by_role("button", name="Issue the suggestion"))
        assert page.locator("#status .nhsuk-tag").inner_text() == "Issued"
        assert_accessible(page)
    assert client.get(f"/suggestions/{older['id']}", headers=h).get_json()["status"] == "superseded"


def test_an_ended_suggestion_offers_no_replacement_and_is_not_named_by_one(app, tokens, page):
    client, h = app.test_client(), tokens.header()
    older = client.post("/suggestions", json=suggestion_body(), headers=h).get_json()
    assert client.post(f"/suggestions/{older['id']}/issue", json={"version": 1}, headers=h).status_code == 200
    assert client.post(f"/suggestions/{older['id']}/withdraw", json={"version": 2, "reason": "other"},
                       headers=h).status_code == 200
    with live_server(app) as base:
        sign_in(page, base, tokens.raw(), f"/review/{older['id']}")
        assert page.get_by_role("link", name="Write a new suggestion to replace this one").count() == 0
        page.goto(f"{base}/write?adjustment=no_night_shifts&replaces={older['id']}")  # a link kept from before
        assert page.locator("#which").count() == 0 and page.get_by_label("First name").input_value() == ""
        assert page.locator("input[name=supersedes_id]").count() == 0
