"""A referral on hold says why in words, with its review date, wherever the hold is shown: the referral page (to
the adviser and to the referrer), its history, the form's choices, and the person's status page. Staff read the
code ("person unwell", "awaiting information") and the person read only "Your support is paused for now"."""

from __future__ import annotations

import re

from tests.people_rights import text
from tests.services.referrals.conftest import with_updates

HTML = {"Accept": "text/html"}


def on_hold(h, reason: str, **extra) -> tuple[str, str]:
    rid = h.client.post("/referrals", json=with_updates(), headers=h.gp()).get_json()["id"]
    assert h.act(rid, "accept", adviser_id="adviser-1").status_code == 200
    held = h.act(rid, "put_on_hold", reason=reason, review_date="2026-12-07", **extra)
    assert held.status_code == 200, held.get_json()
    return rid, h.person_link(rid)


def test_staff_read_the_reason_in_words_with_the_review_date(harness):
    h = harness
    rid, _ = on_hold(h, "awaiting_information")
    for reader in (h.adviser(), h.gp()):
        html = h.client.get(f"/queue/{rid}", headers={**reader, **HTML}).get_data(as_text=True)
        row = re.search(r'<dd class="nhsuk-summary-list__value" id="hold">(.*?)</dd>', html, re.S).group(1)
        assert row == "Waiting for information; review on 7 December 2026"
        assert "awaiting information" not in html.lower()
        history = re.search(r"<h2>History</h2>(.*?)</ol>", html, re.S).group(1)
        assert "Support put on hold (waiting for information) by an employment adviser" in history


def test_the_hold_form_offers_the_reasons_in_words(harness):
    h = harness
    rid = h.client.post("/referrals", json=with_updates(), headers=h.gp()).get_json()["id"]
    h.act(rid, "accept", adviser_id="adviser-1")
    html = h.client.get(f"/queue/{rid}", headers={**h.adviser(), **HTML}).get_data(as_text=True)
    select = re.search(r'<select[^>]*id="put_on_hold-reason".*?</select>', html, re.S).group(0)
    assert re.findall(r'<option value="(\w+)"[^>]*>([^<]+)</option>', select) == [
        ("person_unwell", "The person is unwell"), ("person_request", "The person asked for a pause"),
        ("awaiting_information", "Waiting for information"), ("other", "Another reason")]


def test_the_person_reads_why_their_support_is_paused_and_until_when(harness):
    h = harness
    _, link = on_hold(h, "person_unwell")
    page = text(h.client.get(link, headers=HTML))
    assert ("Your support is paused for now. It is paused while you are unwell. The service plans to look at it "
            "again on 7 December 2026.") in page


def test_another_reason_tells_the_person_only_the_review_date(harness):
    h = harness
    _, link = on_hold(h, "other", text="Moving house; will call back after.")
    page = text(h.client.get(link, headers=HTML))
    assert "Your support is paused for now. The service plans to look at it again on 7 December 2026." in page
    assert "Moving house" not in page  # the explanation is a case note, for staff
