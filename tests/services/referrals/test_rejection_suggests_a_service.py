"""A rejection may suggest another directory service (the issue: "optional redirect to another directory service";
the API's `redirect_service_id`). The referral page's reject form offered no way to give one, the referrer read
"Directory service <id>" with no way to it, and the person's status page did not say it at all. Now the form offers
the adviser services referrals knows (but the referral's own), and the referrer and the person are linked to the
suggested service's page in the directory."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser import assert_accessible, live_server, sign_in, submit, width_at
from tests.services.referrals.conftest import ADVISERS, OTHER_ADVISERS, OTHER_SERVICE, with_updates
from tests.services.referrals.test_page_forms import page as read_page, post
from worklink.auth import mint_token
from worklink_referrals.config import ReferralSettings

DIRECTORY = "https://directory.example"


@pytest.fixture()
def h(make_harness):
    harness = make_harness(referral_settings=ReferralSettings(expose_codes=True, directory_url=DIRECTORY))
    harness.add_service()
    return harness


def _referred(h) -> tuple[str, str]:
    """A referral the person follows by their link, routed to SERVICE; then another service appears."""
    rid = h.client.post("/referrals", json=with_updates(), headers=h.gp()).get_json()["id"]
    h.add_service(OTHER_SERVICE, OTHER_ADVISERS)
    return rid, h.person_link(rid).rsplit("/", 1)[-1]


def test_the_reject_form_offers_the_other_services_and_keeps_the_choice_after_an_error(h):
    rid, _ = _referred(h)
    html = read_page(h, f"/queue/{rid}", h.adviser())
    select = re.search(r'<select[^>]*id="reject-redirect_service_id".*?</select>', html, re.S).group(0)
    assert re.findall(r'<option value="([^"]*)"', select) == ["", str(OTHER_SERVICE)]  # not the referral's own
    refused = post(h, f"/queue/{rid}/act", {"action": "reject", "version": 1, "reason": "other",
                                             "redirect_service_id": str(OTHER_SERVICE)}, h.adviser())
    assert refused.status_code == 422  # 'other' needs its text
    kept = re.search(r'<select[^>]*id="reject-redirect_service_id".*?</select>', refused.get_data(as_text=True),
                     re.S).group(0)
    assert f'<option value="{OTHER_SERVICE}" selected' in kept


def test_the_person_and_the_referrer_are_linked_to_the_suggested_service(h):
    rid, token = _referred(h)
    assert post(h, f"/queue/{rid}/act", {"action": "reject", "version": 1, "reason": "out_of_area",
                                         "redirect_service_id": str(OTHER_SERVICE)}, h.adviser()).status_code == 303
    suggested = f"{DIRECTORY}/find/services/{OTHER_SERVICE}"
    assert h.client.get(f"/referrals/{rid}", headers=h.gp()).get_json()["redirect_service_id"] == str(OTHER_SERVICE)
    status = h.client.get(f"/status/{token}").get_json()
    assert status["suggested_service_page"] == suggested
    assert f'id="suggested-service">The service suggested <a href="{suggested}"' in read_page(
        h, f"/my-referral/{token}", {})
    assert f'id="redirect">Directory service {OTHER_SERVICE} (<a href="{suggested}"' in read_page(
        h, f"/queue/{rid}", h.gp())


def test_no_suggestion_is_said_when_none_was_given(h):
    rid, token = _referred(h)
    assert post(h, f"/queue/{rid}/act", {"action": "reject", "version": 1, "reason": "no_capacity",
                                         "redirect_service_id": ""}, h.adviser()).status_code == 303
    assert h.client.get(f"/status/{token}").get_json()["suggested_service_page"] is None
    assert 'id="suggested-service"' not in read_page(h, f"/my-referral/{token}", {})
    assert 'id="redirect"' not in read_page(h, f"/queue/{rid}", h.gp())


@pytest.mark.timeout(180)
def test_an_adviser_suggests_a_service_in_chromium_and_the_person_finds_it(h, page):
    rid, token = _referred(h)
    ada = mint_token(h.settings.jwt, role="adviser", org=ADVISERS, subject="adviser-ada")
    with live_server(h.app) as base:
        sign_in(page, base, ada, f"/queue/{rid}")
        page.get_by_text("Reject this referral").click()
        page.locator("#reject-reason").select_option("out_of_area")
        page.get_by_label("Suggest another service (optional)").select_option(str(OTHER_SERVICE))
        assert_accessible(page)
        submit(page, page.get_by_role("button", name="Reject", exact=True))
        expect(page.locator("#status")).to_have_text("Rejected")
        expect(page.locator("#redirect a")).to_have_attribute("href", f"{DIRECTORY}/find/services/{OTHER_SERVICE}")
        page.context.clear_cookies()
        page.goto(f"{base}/my-referral/{token}")
        link = page.get_by_role("link", name="another service that may be able to help you")
        expect(link).to_have_attribute("href", f"{DIRECTORY}/find/services/{OTHER_SERVICE}")
        assert_accessible(page)
        assert width_at(page, 320) <= 320
    assert h.client.get(f"/referrals/{rid}", headers=h.adviser()).get_json()["status"] == "rejected"
