"""A person's status link switches status emails off and on (POST /my-referral/{token}/emails, POST
/status/{token}/emails); each stop publishes a revocation to notifications and each start a new consent. The changes
are rate limited per referral as self-referral starts are (sliding window in the database, 429 with Retry-After, the
error page for a person); before, a status link - shared, leaked, or scripted - could switch them without end.
On SQLite and PostgreSQL: the window is a query on stored times, which SQLite keeps without their zone."""

from __future__ import annotations

from tests.services.referrals.test_api import outbox_payloads
from tests.services.referrals.test_page_forms import post
from tests.services.referrals.test_status_email_answer_shown import self_referred
from worklink_referrals.config import ReferralSettings

REVOKED = "notifications.person_messages.revoked"


def limited(make_harness, database_url: str, changes: int):
    h = make_harness(database_url, referral_settings=ReferralSettings(
        expose_codes=True, status_email_changes_limit=changes, self_referral_window_seconds=3600))
    h.add_service()
    return h


def emails(h, token: str, wanted: bool):
    return h.client.post(f"/status/{token}/emails", json={"updates_by_email": wanted})


def test_the_api_refuses_a_change_over_the_limit_until_the_window_moves_on(make_harness, database_url):
    h = limited(make_harness, database_url, 2)
    _rid, token = self_referred(h)
    assert emails(h, token, False).status_code == 200
    h.clock.advance(minutes=20)
    assert emails(h, token, True).status_code == 200
    assert emails(h, token, True).status_code == 200  # the answer already given: no change, not counted
    refused = emails(h, token, False)
    assert refused.status_code == 429 and refused.mimetype == "application/problem+json"
    # The first change leaves the window an hour after it was counted: 40 minutes from now.
    assert refused.headers["Retry-After"] == "2400" and refused.get_json()["retry_after"] == 2400
    assert "Try again in 40 minutes" in refused.get_json()["detail"]
    assert h.client.get(f"/status/{token}").get_json()["updates_by_email"] is True  # nothing changed
    assert len(outbox_payloads(h, REVOKED)) == 1  # and no second revocation went out
    h.clock.advance(minutes=40)
    assert emails(h, token, False).status_code == 200
    assert len(outbox_payloads(h, REVOKED)) == 2


def test_the_status_page_says_when_to_try_again(make_harness, database_url):
    h = limited(make_harness, database_url, 1)
    _rid, token = self_referred(h)
    stopped = post(h, f"/my-referral/{token}/emails", {"updates_by_email": "no"}, {})
    assert stopped.status_code == 303
    again = post(h, f"/my-referral/{token}/emails", {"updates_by_email": "yes"}, {})
    assert again.status_code == 429 and again.mimetype == "text/html"
    html = again.get_data(as_text=True)
    assert again.headers["Retry-After"] == "3600" and "Try again in 60 minutes" in html
    assert "You have changed whether we email you too many times" in html
    assert h.client.get(f"/status/{token}").get_json()["updates_by_email"] is False


def test_each_referral_has_its_own_limit(make_harness, database_url):
    h = limited(make_harness, database_url, 1)
    _rid, first = self_referred(h)
    assert emails(h, first, False).status_code == 200
    assert emails(h, first, True).status_code == 429
    h.clock.advance(minutes=1)
    _rid, second = self_referred(h)
    assert emails(h, second, False).status_code == 200


def test_the_error_page_of_a_status_link_form_leads_back_to_the_status_page(make_harness, database_url):
    """The header's link on a secret-link page stays on that link; for a form's POST-only address it led to a
    page answering 405."""
    import re

    h = limited(make_harness, database_url, 1)
    _rid, token = self_referred(h)
    post(h, f"/my-referral/{token}/emails", {"updates_by_email": "no"}, {})
    html = post(h, f"/my-referral/{token}/emails", {"updates_by_email": "yes"}, {}).get_data(as_text=True)
    [home] = re.findall(r'class="nhsuk-header__service-logo" href="([^"]+)"', html)
    assert home == f"/my-referral/{token}"
    assert h.client.get(home, headers={"Accept": "text/html"}).status_code == 200
