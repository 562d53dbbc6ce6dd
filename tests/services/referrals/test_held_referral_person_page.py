"""A person whose referral no adviser service could take reads on their status page what their first email
told them: the WorkLink alliance has it and is matching it to a local service.

Found in the pages audit of 27 November: the email said the alliance was matching it, but the page the email
links to said 'We have your referral and will pass it to an employment adviser', as for a routed one."""

from __future__ import annotations

from tests.services.referrals.conftest import nhs_number, with_updates
from tests.services.referrals.test_audit_fixes import person_messages

MATCHING = "It is with the WorkLink alliance, who are matching it to a local employment support service."


def status_page(h, referral_id: str) -> str:
    link = {m["referral_id"]: m for m in person_messages(h)}[referral_id]["status_link"]
    response = h.client.get(link, headers={"Accept": "text/html"})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_a_held_referrals_page_says_the_alliance_is_matching_it_and_a_routed_ones_does_not(make_harness):
    h = make_harness()
    held = h.client.post("/referrals", json=with_updates(), headers=h.gp()).get_json()
    assert held["routing"] == "held"
    page = status_page(h, held["id"])
    assert MATCHING in page and "will pass it to an employment adviser" not in page

    h.add_service()
    routed = h.client.post("/referrals", json=with_updates({"given_name": "Bea", "nhs_number": nhs_number(1)},
                                                          email="bea@example.org"), headers=h.gp()).get_json()
    assert routed["routing"] == "routed"
    page = status_page(h, routed["id"])
    assert "We have your referral and will pass it to an employment adviser." in page and MATCHING not in page
