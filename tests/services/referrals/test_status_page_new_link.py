"""The person's status page tells them how to get back to it: a person with an email address held for the referral
can have a new link emailed (/new-link), so the page says so and links there; only for one without (a phone-only
self-referral) is the page's address the only way back, as it said to everyone."""

from __future__ import annotations

from tests.people_rights import post_form

ONLY_WAY = "It is the only way to see how your"


def self_referred(h, **contact) -> str:
    body = {"person": {"given_name": "Sam", "family_name": "Jones", "birth_date": "1990-01-02", "postcode": "GL1 1AA",
                       **contact}, "consent": {"explicit": True, "updates_by_email": "email" in contact},
            "employment_situation": "unemployed"}
    pending = h.client.post("/self-referrals", json=body)
    assert pending.status_code == 202, pending.get_json()
    pid, code = pending.get_json()["id"], pending.get_json()["code"]
    verified = h.client.post(f"/self-referrals/{pid}/verification", json={"code": code})
    assert verified.status_code == 201, verified.get_json()
    return verified.get_json()["status_link"]


def keep_this_link(h, link: str) -> str:
    page = h.client.get(link).get_data(as_text=True)
    return page.split('id="keep-this-link"')[1].split("</div>")[0]


def test_a_person_with_an_email_held_is_told_they_can_get_a_new_link(harness):
    said = keep_this_link(harness, self_referred(harness, email="sam@example.org"))
    assert '<a href="/new-link">get a new link</a>' in said and "email address you gave" in said
    assert ONLY_WAY not in said


def test_for_a_phone_only_self_referral_the_address_is_the_only_way_back(harness):
    said = keep_this_link(harness, self_referred(harness, phone="07700 900123"))
    assert ONLY_WAY in said and "/new-link" not in said


def test_once_consent_is_withdrawn_no_new_link_is_offered(harness):
    link = self_referred(harness, email="sam@example.org")
    cancel = link.replace("/my-referral/", "/status/") + "/cancel"
    assert harness.client.post(cancel, json={}).get_json()["status"] == "cancelled"
    assert "/new-link" in keep_this_link(harness, link)  # stopped, but a new link would still come
    withdrawn = post_form(harness.client, f"{link}/cancel", {"withdraw_consent": "yes"}, {})  # the page's form
    assert withdrawn.status_code == 303 and withdrawn.headers["Location"] == f"{link}?done=withdrawn"
    assert "/new-link" not in keep_this_link(harness, link)
