"""Fixes from the 2026-11-26 audit: intake consent ids, the person's link, duplicates through held
routing, scoped sustainment checks, consent withdrawal, enter-in-error, impossible people."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from tests.services.referrals.conftest import referral_body


def person_messages(h) -> list[dict]:
    table = h.ctx.tables.outbox
    with h.ctx.database.engine.connect() as conn:
        rows = conn.execute(sa.select(table.c.payload).where(
            table.c.type == "notifications.person_message.requested").order_by(table.c.position))
        return [json.loads(p)["data"] for (p,) in rows]


UPDATES = {"consent": {**referral_body()["consent"], "updates_by_email": True}}
ADA_EMAIL = {"email": "ada@example.org"}


@pytest.mark.parametrize("steps", [
    [("acknowledge", "adviser", {}), ("accept", "adviser", {"adviser_id": "adviser-1"})],
    [("reject", "adviser", {"reason": "not_eligible"})],
    [("cancel", "gp", {"reason": "referrer_withdrew"})],
    [("cancel", "admin", {"reason": "person_withdrew"})],
])
def test_a_referral_with_status_emails_can_be_acted_on(both, steps):
    """An API intake whose consent says updates_by_email gets a consent id, so every person message
    about it can name its consent (it was a 500 on every action)."""
    h = both
    created = h.refer(ADA_EMAIL, **UPDATES)
    assert created.status_code == 201, created.get_json()
    rid = created.get_json()["id"]
    for action, who, data in steps:
        headers = {"adviser": h.adviser(), "gp": h.gp(), "admin": h.admin()}[who]
        done = h.act(rid, action, headers=headers, **data)
        assert done.status_code == 200, done.get_json()
    messages = [m for m in person_messages(h) if m["referral_id"] == rid]
    assert messages and {m["contact"]["address"] for m in messages} == {"ada@example.org"}
    consent_ids = {m["consent_id"] for m in messages}
    assert len(consent_ids) == 1 and None not in consent_ids


def staff_responses_of_a_referral(h, rid) -> list[str]:
    """Everything a GP, the adviser organisation and the alliance can read about the referral."""
    reads = [h.client.get(f"/referrals/{rid}", headers=who) for who in (h.gp(), h.adviser(), h.admin())]
    reads += [h.client.get("/referrals?view=sent", headers=h.gp()), h.client.get("/referrals", headers=h.adviser())]
    return [r.get_data(as_text=True) for r in reads]


def test_the_persons_link_goes_to_the_person_alone_and_the_referrer_cannot_act_as_them(both):
    """The referrer's response carries no token; the person's first status email carries it (pointing
    at their page); no staff response ever shows it; without status emails no link is sent."""
    h = both
    created = h.refer(ADA_EMAIL, **UPDATES)
    body = created.get_json()
    assert created.status_code == 201 and body["status_link_sent_to"] == "email"
    assert "status_link" not in body and "/status/" not in created.get_data(as_text=True)
    rid = body["id"]
    accepted = h.act(rid, "accept", adviser_id="adviser-1")
    assert accepted.status_code == 200

    link = h.person_link(rid)
    assert link.startswith("/my-referral/")
    token = link.removeprefix("/my-referral/")
    [first] = [m for m in person_messages(h) if m.get("status_link")]
    assert first["message_code"] == "referral_received" and first["contact"]["address"] == "ada@example.org"
    staff = [created.get_data(as_text=True), accepted.get_data(as_text=True), *staff_responses_of_a_referral(h, rid)]
    assert not any(token in text for text in staff)
    assert h.client.get(f"/status/{token}").get_json()["status"] == "accepted"  # the person's link works

    # The only link made at intake was never given out: the referrer holds nothing to act as the person.
    with h.ctx.database.transaction() as session:
        from worklink_referrals.models import Referral
        from worklink_referrals.services import hash_secret
        assert session.get(Referral, __import__("uuid").UUID(rid)).status_link_hash == hash_secret(token)
    assert h.act(rid, "make_first_contact").status_code == 200
    refused = h.act(rid, "cancel", headers=h.gp(), reason="referrer_withdrew")
    assert refused.status_code == 409
    assert h.client.get(f"/referrals/{rid}", headers=h.gp()).get_json()["status"] == "in_progress"

    quiet = h.refer({"nhs_number": "4010232137", "given_name": "Bea", "email": "bea@example.org"})
    assert quiet.get_json()["status_link_sent_to"] == "none"
    quiet_id = quiet.get_json()["id"]
    assert h.act(quiet_id, "accept", adviser_id="adviser-1").status_code == 200
    assert not [m for m in person_messages(h) if m["referral_id"] == quiet_id]  # no status emails, no link


def test_a_held_any_service_referral_is_the_duplicate_of_one_naming_a_service(make_harness):
    from tests.services.referrals.conftest import SERVICE
    h = make_harness()
    h.add_service(areas=["GL1"])
    bristol = {"postcode": "BS1 4DJ"}
    held = h.refer(bristol).get_json()  # names no service, nobody serves BS1: held
    assert (held["routing"], held["service_id"]) == ("held", None)
    again = h.refer(bristol, service_id=str(SERVICE))
    assert again.status_code == 409 and again.get_json()["duplicate_of"] == held["id"]
    linked = h.refer(bristol, service_id=str(SERVICE), duplicate={"reason": "GP asked for this service"})
    assert linked.status_code == 201 and linked.get_json()["duplicate_of_id"] == held["id"]


def test_routing_a_held_referral_where_the_person_has_one_open_links_it(make_harness):
    """Routed elsewhere when the second came in, re-held when its service was withdrawn, then routed
    where the person already has an open referral: linked, never silently doubled."""
    import uuid
    from datetime import timedelta

    from tests.services.referrals.conftest import OTHER_ADVISERS, OTHER_SERVICE, SERVICE
    from worklink_referrals import services
    from worklink_referrals.config import ReferralSettings
    from worklink_referrals.models import Referral

    h = make_harness()
    h.add_service()
    first = h.refer().get_json()  # by area: SERVICE (the only one)
    h.add_service(OTHER_SERVICE, OTHER_ADVISERS)
    second = h.refer(service_id=str(OTHER_SERVICE)).get_json()  # another service, named: not a duplicate
    assert (first["service_id"], second["service_id"], second["duplicate_of_id"]) == (
        str(SERVICE), str(OTHER_SERVICE), None)
    with h.ctx.database.transaction() as session:
        gone = services.routing_service_for_update(session, SERVICE, uuid.UUID(ADVISERS_ORG),
                                                   h.clock.now + timedelta(seconds=1))
        gone.active = False
        session.flush()
        services.hold_unclaimed(session, h.ctx.outbox, ReferralSettings(), SERVICE, h.clock.now)
    with h.ctx.database.transaction() as session:
        moved = session.get(Referral, uuid.UUID(first["id"]))
        assert (moved.service_id, moved.duplicate_of_id) == (OTHER_SERVICE, uuid.UUID(second["id"]))
        assert moved.duplicate_reason == services.AUTO_LINK_REASON
        assert [t.action for t in moved.transitions][-2:] == ["route", "link_duplicate"]
    seen = h.client.get(f"/referrals/{first['id']}", headers=h.adviser(org=OTHER_ADVISERS)).get_json()
    assert seen["duplicate_of_id"] == second["id"]


ADVISERS_ORG = "00000000-0000-4000-8000-00000000b001"


def test_sustainment_checks_fail_closed_for_a_token_without_an_organisation(harness):
    from tests.services.referrals.conftest import OTHER_ADVISERS
    h = harness
    rid = h.refer().get_json()["id"]
    h.act(rid, "accept", adviser_id="adviser-1")
    h.act(rid, "make_first_contact")
    h.act(rid, "record_outcome", type="job_start", occurred_on="2026-11-23", hours_band="30_plus")
    h.clock.advance(weeks=13)
    assert [c["referral_id"] for c in h.client.get("/sustainment-checks", headers=h.adviser()).get_json()] == [rid]
    for role in ("adviser", "org_admin"):
        for org in (None, ""):
            refused = h.client.get("/sustainment-checks", headers=h.token(role, org, "someone"))  # at verification
            assert refused.status_code == 401 and refused.mimetype == "application/problem+json", (role, org)
    assert h.client.get("/sustainment-checks", headers=h.adviser(org=OTHER_ADVISERS)).get_json() == []
    with h.ctx.database.engine.connect() as conn:
        table = h.ctx.tables.audit_log
        listed_by = set(conn.execute(sa.select(table.c.actor).where(table.c.action == "list")).scalars())
    assert listed_by == {"adviser-1"}  # the refused callers read nothing, so nothing of theirs is audited


def test_consent_withdrawn_is_the_withdrawals_own_reason_never_a_plain_cancel(harness):
    h = harness
    rid = h.refer().get_json()["id"]
    for who in (h.gp(), h.admin()):
        refused = h.act(rid, "cancel", headers=who, reason="consent_withdrawn")
        assert refused.status_code == 422 and refused.get_json()["errors"][0]["pointer"] == "/reason"
        assert "consent-withdrawal" in refused.get_json()["errors"][0]["detail"]
    still = h.client.get(f"/referrals/{rid}", headers=h.gp()).get_json()
    assert still["status"] == "submitted" and still["consent"]["withdrawn_at"] is None
    withdrawn = h.client.post(f"/referrals/{rid}/consent-withdrawal", headers=h.gp()).get_json()
    assert (withdrawn["status"], withdrawn["status_reason"]) == ("cancelled", "consent_withdrawn")
    assert withdrawn["consent"]["withdrawn_at"] is not None and "person" not in withdrawn


def test_the_referrer_enters_in_error_only_before_the_adviser_organisation_received_it(harness):
    h = harness
    early = h.refer().get_json()["id"]
    assert h.act(early, "enter_in_error", headers=h.gp(), text="wrong patient").get_json()["status"] == \
        "entered_in_error"

    rid = h.refer().get_json()["id"]
    assert h.act(rid, "acknowledge").status_code == 200
    assert h.act(rid, "enter_in_error", headers=h.gp(), text="wrong patient").status_code == 409  # received
    h.act(rid, "accept", adviser_id="adviser-1")
    h.act(rid, "make_first_contact")
    h.act(rid, "record_outcome", type="job_start", occurred_on="2026-11-23", hours_band="30_plus")
    refused = h.act(rid, "enter_in_error", headers=h.gp(), text="wrong patient")
    assert refused.status_code == 409 and "alliance" in refused.get_json()["detail"]
    assert h.client.get(f"/referrals/{rid}", headers=h.gp()).get_json()["status"] == "in_progress"
    assert h.act(rid, "enter_in_error", headers=h.admin(), text="duplicate record").status_code == 200


@pytest.mark.parametrize("person, pointer", [
    ({"nhs_number": "1234567890"}, "/person/nhs_number"),  # fails the modulus-11 check digit
    ({"nhs_number": "0000000000"}, "/person/nhs_number"),
    ({"birth_date": "2090-01-01"}, "/person/birth_date"),  # not born yet
    ({"birth_date": "0001-01-01"}, "/person/birth_date"),
    ({"birth_date": "2024-05-01"}, "/person/birth_date"),  # a toddler
])
def test_intake_refuses_impossible_people(harness, person, pointer):
    refused = harness.refer(person)
    assert refused.status_code == 422, refused.get_json()
    assert pointer in {e["pointer"] for e in refused.get_json()["errors"]}
    self_refused = harness.client.post("/self-referrals", json={
        "person": {"given_name": "Sam", "family_name": "Jones", "birth_date": "1990-01-02", "email": "s@example.org",
                   **person}, "consent": {"explicit": True, "updates_by_email": True},
        "employment_situation": "unemployed"})
    assert self_refused.status_code == 422 and pointer in {e["pointer"] for e in self_refused.get_json()["errors"]}


def test_outcomes_and_holds_must_be_possible(harness):
    h = harness
    rid = h.refer().get_json()["id"]  # submitted 2026-11-23
    h.act(rid, "accept", adviser_id="adviser-1")
    h.act(rid, "make_first_contact")
    h.clock.advance(weeks=20)

    def refused(pointer, **data):
        answer = h.act(rid, "record_outcome", **data) if "type" in data else h.act(rid, "put_on_hold", **data)
        assert answer.status_code == 422, answer.get_json()
        assert pointer in {e["pointer"] for e in answer.get_json()["errors"]}, answer.get_json()

    refused("/occurred_on", type="job_start", occurred_on="1900-01-01", hours_band="30_plus")
    refused("/occurred_on", type="job_start", occurred_on="2026-11-22", hours_band="30_plus")  # before the referral
    sustained = {"type": "sustained_job_outcome", "occurred_on": "2027-03-01", "period_weeks": 16}
    refused("/weeks_in_work", **sustained, weeks_in_work=999999999999, hours_per_week=20)
    refused("/weeks_in_work", **sustained, weeks_in_work=17, hours_per_week=20)
    refused("/hours_per_week", **sustained, weeks_in_work=13, hours_per_week=1e308)
    refused("/review_date", reason="person_request", review_date="9999-12-31")
    assert h.act(rid, "record_outcome", type="job_start", occurred_on="2026-11-23", hours_band="30_plus"
                 ).status_code == 200  # the day it was made is fine
    assert h.act(rid, "record_outcome", **sustained, weeks_in_work=16, hours_per_week=37.5).status_code == 200


def test_the_persons_status_gives_times_with_their_offset(both):
    h = both
    pending = h.client.post("/self-referrals", json={
        "person": {"given_name": "Sam", "family_name": "Jones", "birth_date": "1990-01-02", "email": "s@example.org"},
        "consent": {"explicit": True, "updates_by_email": True}, "employment_situation": "unemployed"}).get_json()
    verified = h.client.post(f"/self-referrals/{pending['id']}/verification", json={"code": pending["code"]})
    api = verified.get_json()["status_link"].replace("/my-referral/", "/status/")
    assert verified.get_json()["submitted_at"] == "2026-11-23T09:00:00+00:00"
    assert h.client.get(api).get_json()["submitted_at"] == "2026-11-23T09:00:00+00:00"  # read back from the DB
    h.clock.advance(hours=1)
    closed = h.client.post(api + "/cancel", json={}).get_json()
    assert closed["closed_at"] == "2026-11-23T10:00:00+00:00"
    assert h.client.get(api).get_json()["closed_at"] == "2026-11-23T10:00:00+00:00"


def test_the_consent_records_the_service_a_referral_routed_by_area_went_to(make_harness):
    from tests.services.referrals.conftest import SERVICE
    h = make_harness()
    h.add_service(areas=["GL1"])
    by_area = h.refer().get_json()  # GL1: routed at intake
    assert by_area["service_id"] == str(SERVICE) and by_area["consent"]["scope_service_id"] == str(SERVICE)
    waiting = h.refer({"nhs_number": "4010232137", "given_name": "Bea", "postcode": "BS1 4DJ"}).get_json()
    assert (waiting["routing"], waiting["consent"]["scope_service_id"]) == ("held", None)  # nothing chosen yet
    h.clock.advance(minutes=1)
    h.add_service(areas=["GL1", "BS1"])  # the directory widens the service's reach
    routed = h.client.post(f"/referrals/{waiting['id']}/route", json={"service_id": str(SERVICE)},
                           headers=h.admin())
    assert routed.status_code == 200, routed.get_json()
    assert routed.get_json()["consent"]["scope_service_id"] == str(SERVICE)  # recorded at routing time
