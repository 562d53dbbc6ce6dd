"""Real responses of the adjustments API's main reads match the schemas its own /openapi.json gives for them
(tests/openapi_responses.py): every field returned is documented with its type. A suggestion, the list and
the employer's JSON view are read after the employer answered, so their answer fields hold something."""

from __future__ import annotations

import sqlalchemy as sa

from tests.openapi_responses import assert_documented
from tests.services.adjustments.test_employer_api_and_rounds import ANSWER, issue, letter_token
from worklink_adjustments.models import ReferralRequest


def answered_suggestion(client, tokens) -> tuple[str, str]:
    """An issued suggestion whose employer answered through the letter's link: (its id, the link's token)."""
    sid = issue(client, tokens)["id"]
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
    sid = issue(client, tokens)["id"]
    token = letter_token(client, tokens, sid)
    assert_documented(client, "get", "/employer-links/{token}", client.get(f"/employer-links/{token}"))


def test_guidance_reads_match_their_documented_schemas(client, tokens):
    clinician = tokens.header()
    found = client.get("/guidance/search?q=back%20pain", headers=clinician)
    assert_documented(client, "get", "/guidance/search", found)
    assert_documented(client, "get", "/guidance/catalogue", client.get("/guidance/catalogue", headers=clinician))
    assert_documented(client, "get", "/guidance/adjustments/{adjustment_id}",
                      client.get("/guidance/adjustments/phased_return_4wk", headers=clinician))
