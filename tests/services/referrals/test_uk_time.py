"""Pages show times and "today" in UK time (Europe/London: BST in summer), not UTC. On SQLite and PostgreSQL: the
times come back from SQLite without their zone and from PostgreSQL with it, and the review-due list compares a
stored date with the UK today in SQL."""

from __future__ import annotations

import re
from datetime import datetime, timezone

HTML = {"Accept": "text/html"}
CONSENT = {"explicit": True, "captured_at": "2026-06-01T08:30:00Z", "method": "verbal", "outcomes_to_referrer": True}


def test_the_referral_page_shows_uk_times_and_todays_uk_date(both):
    h = both
    h.clock.now = datetime(2026, 7, 6, 8, 0, tzinfo=timezone.utc)  # 09:00 BST, Monday 6 July
    rid = h.refer(consent=CONSENT).get_json()["id"]
    h.act(rid, "accept", adviser_id="adviser-1")
    h.act(rid, "make_first_contact")
    h.clock.now = datetime(2026, 7, 7, 23, 30, tzinfo=timezone.utc)  # 00:30 BST on Wednesday 8 July
    html = h.client.get(f"/queue/{rid}", headers={**h.adviser(), **HTML}).get_data(as_text=True)
    assert "6 Jul 2026, 09:00 BST: Referral made" in html  # not 08:00 (UTC)
    assert "Acknowledgement: due Wed 8 Jul 2026, 09:00 BST" in html
    assert 'value="2026-07-08"' in html  # an outcome's date defaults to the UK today, not 7 July


def test_lists_use_the_uk_date(both):
    h = both
    h.clock.now = datetime(2026, 7, 1, 23, 30, tzinfo=timezone.utc)  # 00:30 BST on 2 July
    created = h.refer(consent=CONSENT).get_json()
    row = re.search(rf'{created["reference"]}.*?</tr>', h.client.get(
        "/queue?view=new", headers={**h.adviser(), **HTML}).get_data(as_text=True), re.S).group(0)
    assert "2 Jul 2026" in row


def test_holds_to_review_are_due_on_the_uk_date(both):
    h = both
    h.clock.now = datetime(2026, 6, 29, 9, 0, tzinfo=timezone.utc)
    rid = h.refer(consent=CONSENT).get_json()["id"]
    h.act(rid, "accept", adviser_id="adviser-1")
    assert h.act(rid, "put_on_hold", reason="person_request", review_date="2026-07-02").status_code == 200
    h.clock.now = datetime(2026, 7, 1, 22, 30, tzinfo=timezone.utc)  # 23:30 BST on 1 July: not yet
    due = h.client.get("/queue?view=review_due", headers={**h.adviser(), **HTML}).get_data(as_text=True)
    assert "No referrals in this list" in due
    h.clock.now = datetime(2026, 7, 1, 23, 30, tzinfo=timezone.utc)  # 00:30 BST on 2 July: due today
    due = h.client.get("/queue?view=review_due", headers={**h.adviser(), **HTML}).get_data(as_text=True)
    assert f"/queue/{rid}" in due


def test_the_queue_names_a_missed_target_in_words(both):
    h = both
    h.clock.now = datetime(2026, 7, 6, 8, 0, tzinfo=timezone.utc)  # Monday
    created = h.refer(consent=CONSENT).get_json()
    h.clock.now = datetime(2026, 7, 10, 8, 0, tzinfo=timezone.utc)  # Friday: not acknowledged in 2 working days
    row = re.search(rf'{created["reference"]}.*?</tr>', h.client.get(
        "/queue?view=new", headers={**h.adviser(), **HTML}).get_data(as_text=True), re.S).group(0)
    cell = re.search(r"Targets missed.*?</td>", row, re.S).group(0)
    assert "Acknowledgement" in cell and "acknowledge" not in cell, cell


def test_the_history_notes_and_attempts_give_the_year_and_name_gmt_or_bst(both):
    # They read "23 Dec 16:30": no year (a referral's history runs across New Year and for years after) and
    # nothing to tell GMT from BST, when every other page of WorkLink names the clock.
    h = both
    h.clock.now = datetime(2026, 10, 24, 15, 30, tzinfo=timezone.utc)  # Saturday 16:30 BST
    rid = h.refer(consent={**CONSENT, "captured_at": "2026-10-24T15:00:00Z"}).get_json()["id"]
    h.act(rid, "accept", adviser_id="adviser-1")
    h.clock.now = datetime(2027, 1, 4, 9, 15, tzinfo=timezone.utc)  # Monday 09:15 GMT, the next year
    h.act(rid, "record_contact_attempt", channel="phone", result="no_answer")
    assert h.client.post(f"/referrals/{rid}/notes", json={"text": "Left a voicemail."},
                         headers=h.adviser()).status_code == 201
    html = h.client.get(f"/queue/{rid}", headers={**h.adviser(), **HTML}).get_data(as_text=True)
    history = re.search(r"<h2>History</h2>(.*?)</ol>", html, re.S).group(1)
    assert "24 Oct 2026, 16:30 BST: Referral made" in history
    assert "4 Jan 2027, 09:15 GMT: Contact attempt logged" in history
    assert "4 Jan 2027, 09:15 GMT: Phone, no answer" in re.search(r'id="attempts">(.*?)</ul>', html, re.S).group(1)
    assert "4 Jan 2027, 09:15 GMT, " in re.search(r'<h2 id="notes">Notes</h2>(.*?)<form', html, re.S).group(1)


def test_the_persons_rights_page_names_the_clock_of_each_step(both):
    h = both
    h.clock.now = datetime(2026, 7, 6, 8, 0, tzinfo=timezone.utc)
    h.refer(consent=CONSENT)
    h.client.set_cookie("worklink_csrf", "t0ken")
    html = h.client.post("/people", data={"csrf_token": "t0ken", "nhs_number": "9434765919"},
                         headers={**h.admin(), **HTML}).get_data(as_text=True)
    assert "6 Jul 2026, 09:00 BST" in html and "6 Jul 2026 09:00<" not in html
