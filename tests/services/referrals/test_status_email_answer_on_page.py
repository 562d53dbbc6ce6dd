"""The referral page's Consent row shows the person's answer about status emails beside their other consents, in
words with a UK date: it showed only the referral's consent, though the API gave the answer (3e3db97).
On SQLite and PostgreSQL: the answer's time comes back without its zone from one and with it from the other."""

from __future__ import annotations

import re
from datetime import timedelta

from tests.services.referrals.test_status_email_answer_shown import self_referred
from worklink.uktime import uk_time

HTML = {"Accept": "text/html"}


def status_emails(h, rid: str, headers: dict) -> str:
    html = h.client.get(f"/queue/{rid}", headers={**headers, **HTML}).get_data(as_text=True)
    return re.search(r'<span id="status-emails">([^<]*)</span>', html).group(1)


def in_words(moment) -> str:
    return uk_time(moment).strftime("%-d %B %Y")


def test_the_consent_row_says_the_answer_how_and_when_it_was_given(both):
    h = both
    answered = h.clock.now
    rid, token = self_referred(h)
    assert status_emails(h, rid, h.adviser()) == (
        f"Emails about their referral: yes, answered on the self-referral form on {in_words(answered)}")
    h.clock.advance(days=2)
    assert h.client.post(f"/status/{token}/emails", json={"updates_by_email": False}).status_code == 200
    changed = in_words(answered + timedelta(days=2))
    assert status_emails(h, rid, h.admin()) == (
        f"Emails about their referral: no, changed through their status link on {changed}")


def test_a_referrers_answer_reads_as_given_with_the_consent(both):
    h = both
    made = h.refer().get_json()
    consent = made["consent"]
    answer = "yes" if consent["updates_by_email"] else "no"
    captured = in_words(h.clock.now)
    assert status_emails(h, made["id"], h.gp()) == (
        f"Emails about their referral: {answer}, given with their consent to the referral on {captured}")
