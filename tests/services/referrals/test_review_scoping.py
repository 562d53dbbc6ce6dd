"""Fresh-eyes review of referrals (2026-11-27): who reads what of a referral and of the person's other referrals,
what a referrer learns of outcomes the person kept from them, what stops when consent is withdrawn, and the bounds
on guessing a self-referral code. Some tests confirm what held already (outsiders with a referral's id, stale page
forms, the code's tries); the others each failed before their fix."""

from __future__ import annotations

import json

import pytest

from tests.services.referrals.conftest import OTHER_ADVISERS

OTHER_PRACTICE = "00000000-0000-4000-8000-00000000a002"
HTML = {"Accept": "text/html"}
CSRF = "t0ken"


def post_form(h, path, data, headers):
    h.client.set_cookie("worklink_csrf", CSRF)
    return h.client.post(path, data={"csrf_token": CSRF, **data}, headers={**headers, **HTML})


def outsiders(h):
    return {"another practice's GP": h.token("gp", OTHER_PRACTICE, "gp-9"),
            "another organisation's adviser": h.adviser("adviser-9", org=OTHER_ADVISERS),
            "another organisation's lead": h.token("org_admin", OTHER_ADVISERS, "lead-9")}


def snapshot(h, rid):
    body = h.client.get(f"/referrals/{rid}", headers=h.admin()).get_json()
    return body["version"], body["status"], len(body["notes"]), body["consent"]["withdrawn_at"]


@pytest.mark.parametrize("who", ["another practice's GP", "another organisation's adviser",
                                 "another organisation's lead"])
def test_an_outsider_with_a_referrals_id_neither_reads_nor_changes_it(harness, who):
    h = harness
    rid = h.refer().get_json()["id"]
    h.act(rid, "accept", adviser_id="adviser-1")
    before = snapshot(h, rid)
    headers = outsiders(h)[who]
    api = [h.client.get(f"/referrals/{rid}", headers=headers),
           h.client.post(f"/referrals/{rid}/actions/cancel", json={"version": before[0], "reason": "other",
                                                                   "text": "x"}, headers=headers),
           h.client.post(f"/referrals/{rid}/actions/make_first_contact", json={"version": before[0]},
                         headers=headers),
           h.client.post(f"/referrals/{rid}/notes", json={"text": "x"}, headers=headers),
           h.client.post(f"/referrals/{rid}/consent-withdrawal", headers=headers)]
    # GPs may not write notes at all (403 by role); everyone else meets the referral as one that does not exist.
    assert [r.status_code for r in api] == [404, 404, 404, 403 if "GP" in who else 404, 404]
    assert all(r.mimetype == "application/problem+json" for r in api)
    assert all("Lovelace" not in r.get_data(as_text=True) for r in api)
    pages = [h.client.get(f"/queue/{rid}", headers={**headers, **HTML}),
             post_form(h, f"/queue/{rid}/act", {"action": "cancel", "version": str(before[0]), "reason": "other",
                                                "text": "x"}, headers),
             post_form(h, f"/queue/{rid}/consent-withdrawal", {}, headers)]
    assert [r.status_code for r in pages] == [404, 404, 404]
    assert all("Lovelace" not in r.get_data(as_text=True) for r in pages)
    listed = h.client.get("/referrals?view=all", headers=headers).get_json()
    sent = h.client.get("/referrals?view=sent", headers=headers).get_json()
    assert (listed["total"], sent["total"]) == (0, 0)
    assert "Lovelace" not in json.dumps(listed) + json.dumps(sent)
    assert snapshot(h, rid) == before


def test_a_page_form_on_a_stale_version_is_refused_not_applied(harness):
    """Two advisers have the referral page open; one logs a contact attempt, then the other posts theirs from the
    page read before it: a 409 saying the referral changed, and one attempt recorded, not two."""
    h = harness
    rid = h.refer().get_json()["id"]
    h.act(rid, "accept", adviser_id="adviser-1")
    read = h.client.get(f"/referrals/{rid}", headers=h.adviser()).get_json()["version"]
    assert h.act(rid, "record_contact_attempt", channel="phone", result="no_answer").status_code == 200
    stale = post_form(h, f"/queue/{rid}/act", {"action": "record_contact_attempt", "version": str(read),
                                               "channel": "email", "result": "left_message"},
                      h.adviser("adviser-2"))
    assert stale.status_code == 409
    assert "someone else changed this referral after you opened this page" in stale.get_data(as_text=True)
    after = h.client.get(f"/referrals/{rid}", headers=h.adviser()).get_json()
    assert [a["channel"] for a in after["attempts"]] == ["phone"] and after["version"] == read + 1


def test_the_case_notes_of_an_organisation_the_referral_left_stay_behind(both):
    """A service withdrawn before acknowledging a referral: the referral is held and routed to another
    organisation. Notes the first organisation wrote meanwhile are its case record, not the next one's: its staff's
    words about the person must not reach an organisation the person never dealt with. The alliance still reads
    them; the new organisation reads its own notes."""
    from datetime import timedelta
    import uuid

    from tests.services.referrals.conftest import ADVISERS, OTHER_SERVICE, SERVICE
    from worklink_referrals import services
    from worklink_referrals.config import ReferralSettings

    h = both
    rid = h.refer().get_json()["id"]
    assert h.client.post(f"/referrals/{rid}/notes", json={"text": "Told me about her debts"},
                         headers=h.adviser()).status_code == 201
    h.add_service(OTHER_SERVICE, OTHER_ADVISERS)
    with h.ctx.database.transaction() as session:
        gone = services.routing_service_for_update(session, SERVICE, uuid.UUID(ADVISERS),
                                                   h.clock.now + timedelta(seconds=1))
        gone.active = False
        session.flush()
        services.hold_unclaimed(session, h.ctx.outbox, ReferralSettings(), SERVICE, h.clock.now)
    new_org = h.adviser("adviser-9", org=OTHER_ADVISERS)
    assert h.client.get(f"/referrals/{rid}", headers=new_org).get_json()["assigned_org_id"] == OTHER_ADVISERS
    assert h.client.post(f"/referrals/{rid}/notes", json={"text": "First call booked"},
                         headers=new_org).status_code == 201

    seen = h.client.get(f"/referrals/{rid}", headers=new_org).get_json()
    assert [n.get("text") for n in seen["notes"]] == ["First call booked"]
    assert "debts" not in json.dumps(seen)
    assert "debts" not in h.client.get(f"/queue/{rid}", headers={**new_org, **HTML}).get_data(as_text=True)
    admin = h.client.get(f"/referrals/{rid}", headers=h.admin()).get_json()
    assert [n.get("text") for n in admin["notes"]] == ["Told me about her debts", "First call booked"]


def test_a_referrer_the_person_kept_outcomes_from_cannot_list_their_sustainment_checks(harness):
    """A sustainment check exists only after a job start: listing the referrer's referrals with checks due told a
    GP that the person had started work, though they kept outcomes from the referrer. The person who shared them
    is still listed."""
    from tests.services.referrals.conftest import nhs_number, referral_body

    h = harness

    def in_work(given, shared):
        body = referral_body({"nhs_number": nhs_number(len(given), 73), "given_name": given})
        body["consent"]["outcomes_to_referrer"] = shared
        rid = h.client.post("/referrals", json=body, headers=h.gp()).get_json()["id"]
        h.act(rid, "accept", adviser_id="adviser-1")
        h.act(rid, "make_first_contact")
        h.act(rid, "record_outcome", type="job_start", occurred_on="2026-11-23", hours_band="30_plus")
        return rid

    private, shared = in_work("Pri", False), in_work("Shareen", True)
    h.clock.advance(weeks=13)
    assert sorted(i["id"] for i in h.client.get("/referrals?view=checks_due", headers=h.adviser()).get_json()
                  ["items"]) == sorted([private, shared])
    listed = h.client.get("/referrals?view=checks_due", headers=h.gp()).get_json()
    assert [i["id"] for i in listed["items"]] == [shared] and listed["total"] == 1


def test_a_rejected_self_referrer_is_not_told_their_referrer_will_explain(harness):
    """The person's status said 'Your referrer will be told why' to someone who referred themselves: nobody would
    tell them. A GP's patient still reads it."""
    h = harness
    person = {"given_name": "Sam", "family_name": "Jones", "birth_date": "1990-01-02", "postcode": "GL1 1AA",
              "email": "sam@example.org"}
    pending = h.client.post("/self-referrals", json={"person": person, "consent": {
        "explicit": True, "updates_by_email": True}, "employment_situation": "unemployed"}).get_json()
    link = h.client.post(f"/self-referrals/{pending['id']}/verification", json={"code": pending["code"]}
                         ).get_json()["status_link"]
    [item] = h.client.get("/referrals", headers=h.adviser()).get_json()["items"]
    assert h.act(item["id"], "reject", reason="not_eligible").status_code == 200
    status = h.client.get(link.replace("/my-referral/", "/status/")).get_json()
    assert status["status"] == "rejected" and "referrer" not in status["status_text"]
    assert "look for other local support" in status["status_text"]
    page = h.client.get(link, headers=HTML).get_data(as_text=True)
    assert "referrer" not in page and "look for other local support" in page

    from tests.services.referrals.conftest import with_updates
    rid = h.client.post("/referrals", json=with_updates(), headers=h.gp()).get_json()["id"]
    assert h.act(rid, "reject", reason="not_eligible").status_code == 200
    patient = h.client.get(h.person_link(rid).replace("/my-referral/", "/status/")).get_json()
    assert patient["status_text"] == "The service could not take your referral. Your referrer will be told why."


def test_a_re_referral_names_the_referral_it_replaces_only_to_those_who_may_read_that_one(harness):
    """A GP re-refers a person whose first referral, with one adviser organisation, ended, this time to a service of
    another. The new organisation read replaces_id: that the person had been referred before, and the id of a
    referral about their dealings with another organisation (duplicate_of_id is withheld from such readers, for
    that reason). The GP, who made both, and the alliance still read it."""
    from tests.services.referrals.conftest import OTHER_SERVICE

    h = harness
    first = h.refer().get_json()["id"]
    assert h.act(first, "cancel", headers=h.gp(), reason="referrer_withdrew").status_code == 200
    h.add_service(OTHER_SERVICE, OTHER_ADVISERS)
    again = h.refer(replaces_id=first, service_id=str(OTHER_SERVICE)).get_json()
    assert again["replaces_id"] == first and again["assigned_org_id"] == OTHER_ADVISERS
    new_org = h.client.get(f"/referrals/{again['id']}", headers=h.adviser("adviser-9", org=OTHER_ADVISERS))
    assert new_org.get_json()["replaces_id"] is None and first not in new_org.get_data(as_text=True)
    page = h.client.get(f"/queue/{again['id']}", headers={**h.adviser("adviser-9", org=OTHER_ADVISERS), **HTML})
    assert first not in page.get_data(as_text=True)
    for reader in (h.gp(), h.admin()):
        assert h.client.get(f"/referrals/{again['id']}", headers=reader).get_json()["replaces_id"] == first


def test_no_sustainment_check_falls_due_for_a_person_who_withdrew_consent(harness):
    """A sustainment check sends an adviser to ask the person whether they are still in work. After they withdrew
    consent (processing on consent stops) none is listed as due - as none is after erasure - while another
    person's still is."""
    from tests.services.referrals.conftest import nhs_number, referral_body

    h = harness

    def in_work(given):
        body = referral_body({"nhs_number": nhs_number(len(given), 74), "given_name": given})
        rid = h.client.post("/referrals", json=body, headers=h.gp()).get_json()["id"]
        h.act(rid, "accept", adviser_id="adviser-1")
        h.act(rid, "make_first_contact")
        h.act(rid, "record_outcome", type="job_start", occurred_on="2026-11-23", hours_band="30_plus")
        assert h.act(rid, "complete", end_reason="goals_met").status_code == 200
        return rid

    withdrawn, stays = in_work("Wendy"), in_work("Stan")
    assert h.client.post(f"/referrals/{withdrawn}/consent-withdrawal", headers=h.gp()).status_code == 200
    h.clock.advance(weeks=13)
    for reader in (h.adviser(), h.admin()):
        assert [c["referral_id"] for c in h.client.get("/sustainment-checks", headers=reader).get_json()] == [stays]
    listed = h.client.get("/referrals?view=checks_due", headers=h.adviser()).get_json()
    assert [i["id"] for i in listed["items"]] == [stays] and listed["total"] == 1


def test_five_wrong_codes_by_api_and_page_together_end_a_self_referral(harness):
    """The code is 6 digits: guessing is bounded by 5 wrong tries on one waiting self-referral, counted across the
    API and the page, after which even the right code finds nothing to verify and no referral is made."""
    h = harness
    person = {"given_name": "Sam", "family_name": "Jones", "birth_date": "1990-01-02", "postcode": "GL1 1AA",
              "email": "sam@example.org"}
    pending = h.client.post("/self-referrals", json={"person": person, "consent": {
        "explicit": True, "updates_by_email": True}, "employment_situation": "unemployed"}).get_json()
    wrong = "000000" if pending["code"] != "000000" else "111111"
    left = [h.client.post(f"/self-referrals/{pending['id']}/verification", json={"code": wrong}).get_json()
            ["attempts_left"] for _ in range(4)]
    assert left == [4, 3, 2, 1]
    fifth = post_form(h, f"/refer-yourself/{pending['id']}/code", {"code": wrong}, {})
    assert fifth.status_code == 422 and "not right" in fifth.get_data(as_text=True)
    right = h.client.post(f"/self-referrals/{pending['id']}/verification", json={"code": pending["code"]})
    assert right.status_code == 410 and right.mimetype == "application/problem+json"
    assert h.client.post(f"/self-referrals/{pending['id']}/verification",
                         json={"code": pending["code"]}).status_code == 404  # gone for good
    assert h.client.get("/referrals", headers=h.admin()).get_json()["total"] == 0
