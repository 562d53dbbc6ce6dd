"""The person's answer about status emails (migration 0018: yes or no, when, how it was given) is shown beside their
other consents: to staff on GET /referrals/{id}, and in the subject access export, with the consent id the emails
go under (the person has a right to see what they agreed to). Both gave only `updates_by_email`."""

from __future__ import annotations

from datetime import datetime, timedelta

SELF_REFERRAL = {"person": {"given_name": "Sam", "family_name": "Jones", "birth_date": "1990-01-02",
                            "postcode": "GL1 1AA", "email": "sam@example.org"},
                 "consent": {"explicit": True, "updates_by_email": True}, "employment_situation": "unemployed"}


def self_referred(h) -> tuple[str, str]:
    """A verified self-referral that answered yes on the form: (referral id, status link token)."""
    pending = h.client.post("/self-referrals", json=SELF_REFERRAL).get_json()
    made = h.client.post(f"/self-referrals/{pending['id']}/verification", json={"code": pending["code"]})
    assert made.status_code == 201, made.get_json()
    rid = h.client.get("/referrals", headers=h.adviser()).get_json()["items"][0]["id"]
    return rid, made.get_json()["status_link"].rsplit("/", 1)[1]


def answer(consent: dict) -> tuple:
    return (consent["updates_by_email"], datetime.fromisoformat(consent["updates_answered_at"]),
            consent["updates_answered_how"])


def exported_consent(h, rid: str) -> dict:
    exported = h.client.post("/people/subject-access", json={"referral_id": rid}, headers=h.admin())
    assert exported.status_code == 200, exported.get_json()
    return exported.get_json()["referrals"][0]["consent"]


def test_staff_and_the_export_show_the_answer_when_and_how_it_was_given(both):
    h = both
    answered_on_the_form = h.clock.now
    rid, token = self_referred(h)
    shown = h.client.get(f"/referrals/{rid}", headers=h.adviser()).get_json()["consent"]
    assert answer(shown) == (True, answered_on_the_form, "self_referral_form")
    exported = exported_consent(h, rid)
    assert answer(exported) == (True, answered_on_the_form, "self_referral_form")
    assert exported["updates_consent_id"]  # the emails' own consent, beside the referral's consent_id

    h.clock.advance(days=2)
    stopped = h.client.post(f"/status/{token}/emails", json={"updates_by_email": False})
    assert stopped.status_code == 200, stopped.get_json()
    shown = h.client.get(f"/referrals/{rid}", headers=h.adviser()).get_json()["consent"]
    assert answer(shown) == (False, answered_on_the_form + timedelta(days=2), "status_page")
    exported = exported_consent(h, rid)
    assert answer(exported) == (False, answered_on_the_form + timedelta(days=2), "status_page")


def test_a_referrers_answer_is_the_one_recorded_with_the_consent(harness):
    h = harness
    made = h.refer().get_json()
    shown = h.client.get(f"/referrals/{made['id']}", headers=h.gp()).get_json()["consent"]
    assert (shown["updates_answered_how"], shown["updates_answered_at"]) == ("with_consent", shown["captured_at"])
