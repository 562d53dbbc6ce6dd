"""Real responses of the adjustments API's main reads match the schemas its own /openapi.json gives for them
(tests/openapi_responses.py): every field returned is documented with its type. A suggestion, the list and
the employer's JSON view are read after the employer answered, so their answer fields hold something."""

from __future__ import annotations

import sqlalchemy as sa

from tests.openapi_responses import assert_documented, undocumented_fields_never_returned
from tests.services.adjustments.conftest import suggestion_body
from tests.services.adjustments.test_employer_api_and_rounds import ANSWER, issue, letter_token
from tests.services.adjustments.test_people_rights import admin
from worklink_adjustments.models import ReferralRequest


def answered_suggestion(client, tokens, **overrides) -> tuple[str, str]:
    """An issued suggestion whose employer answered through the letter's link: (its id, the link's token)."""
    sid = issue(client, tokens, **overrides)["id"]
    token = letter_token(client, tokens, sid)
    assert client.post(f"/employer-links/{token}/response", json=ANSWER).status_code == 201
    return sid, token


def test_a_suggestion_and_the_list_match_their_documented_schemas(svc):
    _, client, tokens = svc
    sid, _ = answered_suggestion(client, tokens)
    assert_documented(client, "get", "/suggestions/{suggestion_id}",
                      client.get(f"/suggestions/{sid}", headers=tokens.header()))
    listed = client.get("/suggestions", headers=tokens.header())
    assert_documented(client, "get", "/suggestions", listed)
    assert listed.get_json()["items"]


def test_a_referral_request_matches_its_documented_schema(svc):
    """The answer to asking for a referral had no schema in the document at all."""
    app, client, tokens = svc
    suggestion = issue(client, tokens, **{"consent.refer_to_employment_adviser": True})  # requested at issue
    with app.extensions["worklink"].database.transaction() as session:  # that one ended: another may be asked
        session.execute(sa.update(ReferralRequest).values(status="rejected"))
    requested = client.post(f"/suggestions/{suggestion['id']}/referral-requests",
                            json={"version": suggestion["version"]}, headers=tokens.header())
    schema = assert_documented(client, "post", "/suggestions/{suggestion_id}/referral-requests", requested, 201)
    assert set(schema["properties"]) == set(requested.get_json()) == {"request_id", "status"}
    read = client.get(f"/suggestions/{suggestion['id']}", headers=tokens.header())
    assert_documented(client, "get", "/suggestions/{suggestion_id}", read)
    assert requested.get_json()["request_id"] in [r["request_id"] for r in read.get_json()["referrals"]]


def test_the_employers_view_matches_its_documented_schema(client, tokens):
    """Its employee, issuer and period were maps of any key to a string (or a date): their fields are named now."""
    sid = issue(client, tokens)["id"]
    token = letter_token(client, tokens, sid)
    view = client.get(f"/employer-links/{token}")
    schema = assert_documented(client, "get", "/employer-links/{token}", view)
    assert undocumented_fields_never_returned(schema, [view.get_json()]) == set()
    assert view.get_json()["period"]["end"] and view.get_json()["issuer"]["profession"] == "doctor"


def test_a_lifecycle_answer_names_its_links(svc):
    """The short answer to issue and withdraw: its links (self, letter, summary and their PDFs) are named fields."""
    _, client, tokens = svc
    created = client.post("/suggestions", json=suggestion_body(), headers=tokens.header()).get_json()
    issued = client.post(f"/suggestions/{created['id']}/issue", json={"version": 1}, headers=tokens.header())
    schema = assert_documented(client, "post", "/suggestions/{suggestion_id}/issue", issued)
    assert undocumented_fields_never_returned(schema, [issued.get_json()]) == set()
    assert issued.get_json()["links"]["letter_pdf"] == f"/suggestions/{created['id']}/letter.pdf"


def test_the_subject_access_export_matches_its_documented_schema(svc):
    """Each suggestion of the export was any object: it is documented column by column from the tables, with its
    employer links and answers, referral requests and accesses, closed to anything else."""
    app, client, tokens = svc
    sid, _ = answered_suggestion(client, tokens, **{"consent.refer_to_employment_adviser": True,
                                                    "job.notes": "Lifting limits on the loading bay"})
    exported = client.post("/people/subject-access", json={"nhs_number": "9434765919"}, headers=admin(tokens))
    schema = assert_documented(client, "post", "/people/subject-access", exported)
    suggestion = exported.get_json()["suggestions"][0]
    assert suggestion["id"] == sid and suggestion["referral_requests"] and suggestion["employer_responses"]
    assert undocumented_fields_never_returned(schema, [exported.get_json()]) == set()


def test_guidance_reads_match_their_documented_schemas(client, tokens):
    clinician = tokens.header()
    found = client.get("/guidance/search?q=back%20pain", headers=clinician)
    schema = assert_documented(client, "get", "/guidance/search", found)
    never = undocumented_fields_never_returned(schema, [found.get_json()])
    assert not {path for path in never if path.startswith("review")}, never  # the library's review, all of it
    assert_documented(client, "get", "/guidance/catalogue", client.get("/guidance/catalogue", headers=clinician))
    assert_documented(client, "get", "/guidance/adjustments/{adjustment_id}",
                      client.get("/guidance/adjustments/phased_return_4wk", headers=clinician))


def test_the_review_report_matches_its_documented_schema(client, tokens):
    """Its last_review was any object: who reviewed and when are named fields now."""
    reviewer = admin(tokens)
    adjustment = client.get("/guidance/adjustments/phased_return_4wk", headers=reviewer).get_json()
    assert client.post("/guidance/adjustments/phased_return_4wk/clinical-review",
                       json={"revision": adjustment["revision"]}, headers=reviewer).status_code == 200
    report = client.get("/guidance/review-report", headers=reviewer)
    schema = assert_documented(client, "get", "/guidance/review-report", report)
    assert report.get_json()["last_review"]["by"] == "alliance_admin-1"
    assert undocumented_fields_never_returned(schema, [report.get_json()], free_form=("unreviewed_",)) == set()
