"""Real responses of the referrals API's main reads match the schemas its own /openapi.json gives for them
(tests/openapi_responses.py): every field returned is documented with its type, and every field documented for
a referral is returned by a read of a fully worked one, but for those documented as returned only sometimes."""

from __future__ import annotations

import json

from tests.openapi_responses import assert_documented, undocumented_fields_never_returned
from tests.services.referrals.conftest import ADVISERS, GP_PRACTICE, nhs_number, with_updates
from tests.services.referrals.test_api import self_referral
from tests.services.referrals.test_consent_withdrawn_event import deliver, referral_for
from tests.services.referrals.test_events import request_data
from worklink.auth import mint_token
from worklink.uktime import uk_today
from worklink_referrals import insights
from worklink_referrals.config import ReferralSettings

# Documented fields a read of the worked referral below cannot carry, each said so in its description.
ONLY_SOMETIMES = {
    "hold",  # only while on hold
    "referrer.profession",  # a clinician's, from an adjustment suggestion
    "status_link_sent_to",  # only in the answer to POST /referrals
    "caseload_warning",  # only in the answer to accept or assign, past the caseload limit
}


def bearer(h, role, org, subject, **claims):
    return {"Authorization": "Bearer " + mint_token(h.settings.jwt, role=role, org=org, subject=subject, **claims)}


def named_adviser(h):
    return bearer(h, "adviser", ADVISERS, "sam@riverside.example.org", name="Sam Patel", org_name="Riverside Works")


def named_gp(h):
    return bearer(h, "gp", GP_PRACTICE, "dr.wu@practice.example.org", name="Dr Wu", org_name="Severn Practice")


def worked_referral(h) -> str:
    """A referral with everything a read can show: the person's optional details, an adviser, a contact attempt,
    a note, an outcome and the person's answer about status emails."""
    body = with_updates({"sex": "female", "ethnicity": "white_british", "preferred_contact": "email"})
    made = h.client.post("/referrals", json=body, headers=named_gp(h))
    assert made.status_code == 201, made.get_json()
    rid = made.get_json()["id"]
    assert h.act(rid, "accept", headers=named_adviser(h), claim=True).status_code == 200
    assert h.act(rid, "record_contact_attempt", headers=named_adviser(h), channel="phone",
                 result="no_answer").status_code == 200
    assert h.client.post(f"/referrals/{rid}/notes", json={"text": "Left a voicemail"},
                         headers=named_adviser(h)).status_code == 201
    assert h.act(rid, "make_first_contact", headers=named_adviser(h)).status_code == 200
    for outcome in OUTCOMES:
        if outcome is SUSTAINMENT_CHECK:
            h.clock.advance(weeks=14)  # the job start's 13-week check is due (2027-02-22)
        recorded = h.act(rid, "record_outcome", headers=named_adviser(h), **{"occurred_on": "2026-11-23", **outcome})
        assert recorded.status_code == 200, recorded.get_json()
    return rid


# An outcome of each type with fields of its own, so every documented detail is returned; the last is the job
# start's 13-week sustainment check, recorded once it is due.
SUSTAINMENT_CHECK = {"type": "stayed_in_work", "occurred_on": "2027-02-22", "sustainment_check_weeks": 13}
OUTCOMES = [{"type": "job_start", "hours_band": "16_to_29"},
            {"type": "sustained_job_outcome", "weeks_in_work": 13, "period_weeks": 16, "hours_per_week": 7.5},
            {"type": "fit_note_change", "fit_note_from": "not_fit", "fit_note_to": "may_be_fit"},
            SUSTAINMENT_CHECK]


def details_of(outcome: dict) -> dict:
    return {name: value for name, value in outcome.items() if name not in ("type", "occurred_on")}


def test_a_referral_read_by_each_side_matches_its_documented_schema(both):
    h = both
    rid = worked_referral(h)
    bodies = []
    for headers in (named_gp(h), named_adviser(h), h.admin()):
        response = h.client.get(f"/referrals/{rid}", headers=headers)
        schema = assert_documented(h.client, "get", "/referrals/{referral_id}", response)
        bodies.append(response.get_json())
        assert [o["details"] for o in bodies[-1]["outcomes"]] == [details_of(o) for o in OUTCOMES]
    from_adjustments = h.client.get(f"/referrals/{referral_from_adjustments(h)}", headers=h.admin())
    assert_documented(h.client, "get", "/referrals/{referral_id}", from_adjustments)
    bodies.append(from_adjustments.get_json())
    assert undocumented_fields_never_returned(schema, bodies) == ONLY_SOMETIMES


def referral_from_adjustments(h) -> str:
    """A referral the adjustments service asked for, which carries the suggestion's context (`adjustment`)."""
    request = request_data()
    deliver(h, "adjustments.referral.requested", request)
    rid = str(referral_for(h, request).id)
    adjustment = h.client.get(f"/referrals/{rid}", headers=h.admin()).get_json()["adjustment"]
    assert adjustment == {"request_id": str(request["request_id"]), "suggestion_id": str(request["suggestion_id"]),
                          "fit_note_decision": "may_be_fit", "categories": ["altered_hours", "amended_duties"]}
    return rid


def test_an_outcome_keeps_only_its_own_types_fields(harness):
    """The page's one outcome form posts every type's fields: an hours band left selected for a job start is not
    part of a disengagement (its details were any object, kept whatever was posted with it)."""
    h = harness
    rid = h.refer().get_json()["id"]
    h.act(rid, "accept", claim=True)
    h.act(rid, "make_first_contact")
    recorded = h.act(rid, "record_outcome", type="disengaged", occurred_on="2026-11-23", hours_band="30_plus",
                     fit_note_from="not_fit")
    assert recorded.status_code == 200, recorded.get_json()
    response = h.client.get(f"/referrals/{rid}", headers=h.admin())
    assert_documented(h.client, "get", "/referrals/{referral_id}", response)
    assert response.get_json()["outcomes"][0]["details"] == {}


def test_the_queue_matches_its_documented_schema(harness):
    h = harness
    worked_referral(h)
    for path, headers in (("/referrals", named_adviser(h)), ("/referrals?view=sent", named_gp(h))):
        response = h.client.get(path, headers=headers)
        assert_documented(h.client, "get", "/referrals", response)
        assert response.get_json()["items"], path
    assert h.client.get("/referrals", headers=named_adviser(h)).get_json()["caseload"] == {"active": 1, "limit": 20}


def test_the_persons_status_matches_its_documented_schema(harness):
    h = harness
    rid = worked_referral(h)
    token = h.person_link(rid).rstrip("/").rsplit("/", 1)[-1]
    response = h.client.get(f"/status/{token}", headers={"Accept": "application/json"})
    assert_documented(h.client, "get", "/status/{token}", response)


def test_insights_match_their_documented_schema_and_say_what_the_figures_are(harness):
    """GET /insights had no schema in the document: the figures are documented now, shown and hidden alike, and
    its date is an ISO 8601 date like every other in the API (undumped, Flask wrote 'Mon, 23 Nov 2026 ...')."""
    h = harness
    for i in range(6):
        rid = h.refer({"nhs_number": nhs_number(i, 50), "given_name": f"Q{i}",
                       "postcode": "GL1 2AB" if i < 5 else "GL7 1AA"}
                      ).get_json()["id"]
        if i < 2:
            h.act(rid, "reject", reason="out_of_area")
    response = h.client.get("/insights", headers=h.admin())
    schema = assert_documented(h.client, "get", "/insights", response)
    figures = response.get_json()
    assert figures["generated_on"] == "2026-11-23"
    with h.ctx.database.sessions() as session:  # dumped through the schema, the figures are as built
        built = insights.build(session, uk_today(h.clock()))
    assert figures == json.loads(h.app.json.dumps({**built, "generated_on": built["generated_on"].isoformat()}))
    assert figures["equity"]["deprivation_decile"]["3"]["referrals"] == 6 and figures["by_area"]["GL7"] is None
    assert undocumented_fields_never_returned(schema, [figures], free_form=(
        "by_", "rejection_reasons.", "equity.")) == set()


def test_the_answers_to_writes_match_their_documented_schemas(make_harness):
    """The intake's answer (with status_link_sent_to), an accept past the caseload limit (with caseload_warning),
    a self-referral and its verification, and the sustainment checks and services an adviser reads."""
    h = make_harness(referral_settings=ReferralSettings(expose_codes=True, caseload_limit=0))
    h.add_service()
    made = h.client.post("/referrals", json=with_updates(), headers=named_gp(h))
    assert_documented(h.client, "post", "/referrals", made, 201)
    assert made.get_json()["status_link_sent_to"] == "email"
    rid = made.get_json()["id"]
    accepted = h.act(rid, "accept", headers=named_adviser(h), claim=True)
    assert_documented(h.client, "post", "/referrals/{referral_id}/actions/{action}", accepted)
    assert accepted.get_json()["caseload_warning"]
    queue = h.client.get("/referrals", headers=named_adviser(h))
    assert_documented(h.client, "get", "/referrals", queue)
    assert queue.get_json()["caseload"]["warning"] == accepted.get_json()["caseload_warning"]
    h.act(rid, "make_first_contact", headers=named_adviser(h))
    h.act(rid, "record_outcome", headers=named_adviser(h), type="job_start", occurred_on="2026-11-23",
          hours_band="30_plus")
    h.clock.advance(weeks=13)
    due = h.client.get("/sustainment-checks", headers=named_adviser(h))
    assert_documented(h.client, "get", "/sustainment-checks", due)
    assert due.get_json()
    assert_documented(h.client, "get", "/adviser-services",
                      h.client.get("/adviser-services", headers=bearer(h, "org_admin", ADVISERS, "lead")))

    pending = h.client.post("/self-referrals", json=self_referral("kim@example.org"))
    assert_documented(h.client, "post", "/self-referrals", pending, 202)
    verified = h.client.post(f"/self-referrals/{pending.get_json()['id']}/verification",
                             json={"code": pending.get_json()["code"]})
    assert_documented(h.client, "post", "/self-referrals/{pending_token}/verification", verified, 201)


def test_the_subject_access_export_matches_its_documented_schema(both):
    """Each referral in the export was an undocumented object ({}): its fields are documented now, this
    morning's consent.updates_* and updates_consent_id among them."""
    h = both
    worked_referral(h)
    h.clock.advance(weeks=13)  # a sustainment check is due
    response = h.client.post("/people/subject-access", json={"nhs_number": "9434765919"}, headers=h.admin())
    schema = assert_documented(h.client, "post", "/people/subject-access", response)
    never = undocumented_fields_never_returned(schema, [response.get_json()])
    assert never == set(), never
    exported = response.get_json()["referrals"][0]["outcomes"]
    assert [o["details"] for o in exported] == [details_of(o) for o in OUTCOMES]
