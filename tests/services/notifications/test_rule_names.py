"""The routing rules on /admin name each rule's message as its readers see it ("Referral accepted"), and who it
tells in words ("The GP practice"), from the
messages' own titles and variants (messages.MESSAGES, VARIANTS), with its code beside it for the API; the table
showed the code alone (referral_accepted, capacity_changed - a title no capacity summary is sent under now)."""

from __future__ import annotations

import re

import pytest

from tests.browser import sealed
from tests.services.notifications.test_pages import database_url  # noqa: F401 - SQLite
from worklink.auth import mint_token
from worklink.web.pages import SESSION_COOKIE
from worklink_notifications.messages import rule_titles

pytestmark = pytest.mark.timeout(120)


def test_a_rules_message_is_named_by_the_titles_it_is_sent_under():
    assert rule_titles("referral_accepted") == ["Referral accepted"]
    assert rule_titles("suggestion_withdrawn") == ["Suggestion withdrawn", "Suggestion replaced"]
    assert rule_titles("capacity_changed") == ["Not taking new referrals", "Taking new referrals again"]
    assert rule_titles("made_up_by_the_api") == ["WorkLink update"]  # as its messages are titled


def test_the_admin_pages_rules_name_their_messages_in_words(app, notifications_db):
    browser = app.test_client()
    browser.set_cookie(SESSION_COOKIE, sealed(app, mint_token(app.extensions["worklink"].settings.jwt,
                                                              role="alliance_admin", subject="alex")))
    html = browser.get("/admin").get_data(as_text=True)
    rules = html.split('id="rules"')[1].split('id="subscribers"')[0]
    rows = {text_of(cells[0]) + " " + text_of(cells[1]): text_of(cells[3])
            for cells in (re.findall(r"<td[^>]*>(.*?)</td>", row, re.S) for row in rules.split("<tr")[2:])}
    referrer = "The organisation that made the referral code referrer_org"
    assert rows[f"referrals.referral.accepted {referrer}"] == "Referral accepted code referral_accepted"
    assert rows["referrals.capacity.changed The organisation that owns the listing code service_owner"] == (
        "Not taking new referrals or Taking new referrals again code capacity_changed")
    assert rows["adjustments.suggestion.withdrawn The GP practice code practice"] == (
        "Suggestion withdrawn or Suggestion replaced code suggestion_withdrawn")
    assert 'aria-label="Turn off referrals.referral.accepted for the organisation that made the referral"' in rules


def text_of(cell: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", cell).split())
