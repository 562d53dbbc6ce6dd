"""The person withdraws consent after their referral ended only once they confirm it, as they stop a live one: the
status page's "Withdraw my consent" brought no confirmation, one click did it for good. The page works without
JavaScript and its form carries the CSRF token; the API's withdrawal is unchanged."""

from __future__ import annotations

import re

from tests.people_rights import post_form
from tests.services.referrals.conftest import nhs_number, with_updates

HTML = {"Accept": "text/html"}


def ended_referral(h) -> tuple[str, str]:
    """A GP's referral the service rejected, and the person's status link."""
    rid = h.client.post("/referrals", json=with_updates(), headers=h.gp()).get_json()["id"]
    assert h.act(rid, "reject", reason="out_of_area").status_code == 200
    return rid, h.person_link(rid)


def page(h, path: str):
    return h.client.get(path, headers=HTML)


def withdrawn_at(h, rid: str):
    return h.client.get(f"/referrals/{rid}", headers=h.adviser()).get_json()["consent"]["withdrawn_at"]


def test_the_status_page_asks_the_person_to_confirm_before_withdrawing(harness):
    h = harness
    rid, link = ended_referral(h)
    status = page(h, link).get_data(as_text=True)
    # The status page holds no form that withdraws: only a link to the page that asks.
    assert 'name="withdraw_consent"' not in status
    assert re.search(rf'<a [^>]*href="{re.escape(link)}/withdraw"[^>]*>Withdraw my consent</a>', status)
    assert withdrawn_at(h, rid) is None

    asked = page(h, link + "/withdraw")
    html = asked.get_data(as_text=True)
    assert asked.status_code == 200 and asked.headers["Cache-Control"] == "no-store"  # a secret link's page
    assert "<h1>Are you sure you want to withdraw your consent?</h1>" in html
    form = re.search(r'<form method="post" action="([^"]+)">(.*?)</form>', html, re.S)
    assert form.group(1) == f"{link}/cancel"
    assert 'name="csrf_token"' in form.group(2) and 'name="withdraw_consent" value="yes"' in form.group(2)
    assert f'href="{link}"' in html  # "No, go back"
    assert withdrawn_at(h, rid) is None  # asking changed nothing

    done = post_form(h.client, f"{link}/cancel", {"withdraw_consent": "yes"}, {})
    assert done.status_code == 303 and done.headers["Location"] == f"{link}?done=withdrawn"
    assert withdrawn_at(h, rid)
    assert "Withdraw my consent" not in page(h, link).get_data(as_text=True)


def test_the_confirmation_refuses_a_post_without_its_csrf_token(harness):
    h = harness
    rid, link = ended_referral(h)
    refused = post_form(h.client, f"{link}/cancel", {"withdraw_consent": "yes"}, {}, csrf=False)
    assert refused.status_code in (400, 403)
    assert withdrawn_at(h, rid) is None


def test_back_to_the_confirmation_after_withdrawing_or_while_live_leads_on(harness):
    h = harness
    rid, link = ended_referral(h)
    post_form(h.client, f"{link}/cancel", {"withdraw_consent": "yes"}, {})
    again = page(h, link + "/withdraw")
    assert again.status_code == 303 and again.headers["Location"] == link  # nothing left to withdraw

    live = h.client.post("/referrals", json=with_updates({"nhs_number": nhs_number(1, 77)}, email="bo@example.org"),
                         headers=h.gp()).get_json()["id"]
    live_link = h.person_link(live)
    to_stop = page(h, live_link + "/withdraw")
    assert to_stop.status_code == 303 and to_stop.headers["Location"] == f"{live_link}/stop"  # it asks there


def test_the_api_withdrawal_still_answers_problem_json(harness):
    h = harness
    _, link = ended_referral(h)
    token = link.rsplit("/", 1)[1]
    refused = h.client.post(f"/status/{token}/cancel", json={"withdraw_consent": "maybe"})
    assert refused.status_code == 422 and refused.content_type == "application/problem+json"
