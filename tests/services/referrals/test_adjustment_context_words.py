"""A referral made from an adjustment suggestion shows the fit note's decision and advice in the fit note's words,
not as codes ("fit note: may be fit; altered hours, amended duties")."""

from __future__ import annotations

import re

from worklink_referrals.pages.views import adjustment_words
from tests.services.referrals.test_consent_withdrawn_event import deliver, referral_for
from tests.services.referrals.test_events import request_data


def test_the_referral_page_says_what_the_fit_note_advised_in_words(both):
    h = both
    h.add_service()
    request = request_data()  # may be fit, advising altered hours and amended duties
    deliver(h, "adjustments.referral.requested", request)
    referral = referral_for(h, request)
    html = h.client.get(f"/queue/{referral.id}", headers={**h.adviser(), "Accept": "text/html"}).get_data(as_text=True)
    shown = re.search(r'id="adjustment">(.*?)</dd>', html, re.S).group(1)
    assert shown == "Fit note: may be fit for work, advising altered hours and amended duties"


def test_the_advice_is_listed_as_a_sentence_and_an_unknown_code_is_shown_not_dropped():
    assert adjustment_words({"fit_note_decision": "may_be_fit", "categories": []}) == "Fit note: may be fit for work"
    assert adjustment_words({"fit_note_decision": "may_be_fit", "categories": ["phased_return"]}) == (
        "Fit note: may be fit for work, advising a phased return to work")
    assert adjustment_words({"fit_note_decision": "may_be_fit", "categories": [
        "phased_return", "altered_hours", "workplace_adaptations", "new_kind"]}) == (
        "Fit note: may be fit for work, advising a phased return to work, altered hours, workplace adaptations and "
        "new kind")
    assert adjustment_words({}) == "Fit note: not recorded"
