"""In real headless Chromium: two advisers act on one referral at once. The one whose page was read before a
colleague's change is told, in the page's words, what changed, by whom and when (UK time), and keeps what they
chose; submitting again then records it. The page said "The referral has changed since version 3; it is now at
version 4. Read it again and retry." - versions the page never shows, and nothing of what had changed."""

from __future__ import annotations

import pytest

from worklink.auth import mint_token
from worklink.uktime import uk_time
from tests.browser import assert_accessible, live_server, sign_in, submit
from tests.services.referrals.conftest import ADVISERS

pytestmark = pytest.mark.timeout(180)


def test_an_adviser_on_a_stale_page_is_told_what_changed_and_keeps_their_answers(harness, page):
    h = harness
    rid = h.refer().get_json()["id"]
    h.signs_in("adviser-ada")
    assert h.act(rid, "accept", adviser_id="adviser-ada").status_code == 200
    ada = mint_token(h.settings.jwt, role="adviser", org=ADVISERS, subject="adviser-ada")
    with live_server(h.app) as base:
        sign_in(page, base, ada, f"/queue/{rid}")
        h.clock.advance(minutes=7)
        colleague = h.act(rid, "record_contact_attempt", h.adviser("adviser-bo"), channel="phone",
                          result="no_answer")
        assert colleague.status_code == 200
        page.locator("#record_contact_attempt-channel").select_option("email")
        page.locator("#record_contact_attempt-result").select_option("left_message")
        submit(page, page.get_by_role("button", name="Log attempt"))
        said = page.get_by_role("alert").inner_text()
        assert "version" not in said
        when = uk_time(h.clock.now).strftime("%H:%M %Z on %-d %b %Y")
        assert f"someone else changed this referral after you opened this page (Contact attempt logged by an " \
               f"employment adviser at {when})" in said
        assert page.locator("#record_contact_attempt-channel").input_value() == "email"
        assert page.locator("#record_contact_attempt-result").input_value() == "left_message"
        assert_accessible(page)
        submit(page, page.get_by_role("button", name="Log attempt"))
        assert page.url.endswith("?done=record_contact_attempt")
    attempts = h.client.get(f"/referrals/{rid}", headers=h.adviser()).get_json()["attempts"]
    assert [a["channel"] for a in attempts] == ["phone", "email"]


def test_two_advisers_accept_the_same_referral_and_the_second_is_told_who_did(harness, page):
    """Both have the new referral open; one accepts it. The other's 'Accept and take it on' form has gone: the
    page said only that the referral had changed, while offering 'Take this referral on' (taking it from the
    colleague) with nothing to say a colleague had just accepted it."""
    h = harness
    rid = h.refer().get_json()["id"]
    ada = mint_token(h.settings.jwt, role="adviser", org=ADVISERS, subject="adviser-ada")
    with live_server(h.app) as base:
        sign_in(page, base, ada, f"/queue/{rid}")
        h.clock.advance(minutes=3)
        assert h.act(rid, "accept", h.adviser("adviser-bo"), adviser_id="adviser-bo").status_code == 200
        submit(page, page.get_by_role("button", name="Accept and take it on"))
        when = uk_time(h.clock.now).strftime("%H:%M %Z on %-d %b %Y")
        assert page.get_by_role("alert").inner_text().endswith(
            "This can no longer be done: someone else changed this referral after you opened this page (Accepted by "
            f"an employment adviser at {when}).")
        assert_accessible(page)
    assert h.client.get(f"/referrals/{rid}", headers=h.adviser()).get_json()["assigned_adviser"] == "adviser-bo"
