"""Fixes from the second audit (contract fuzzing): a huge offset is a field error, the OpenAPI document
says what the service sends (caseload may be null; the action is an enum), and text of blanks is no text."""

from __future__ import annotations

import pytest

from tests.services.referrals.conftest import referral_body
from worklink_referrals.domain import ACTIONS


@pytest.mark.parametrize("query", ["offset=9223372036854775808", "view=sent&offset=100001"])
def test_a_huge_offset_is_a_422_naming_it(both, query):
    refused = both.client.get(f"/referrals?{query}", headers=both.gp())
    assert refused.status_code == 422 and refused.mimetype == "application/problem+json"
    assert [e["pointer"] for e in refused.get_json()["errors"]] == ["/offset"]
    assert both.client.get("/referrals?offset=100000", headers=both.gp()).status_code == 200


def test_the_openapi_document_says_caseload_may_be_null_and_lists_the_actions(harness):
    h = harness
    spec = h.client.get("/openapi.json").get_json()
    queue = spec["components"]["schemas"]["Queue"]["properties"]["caseload"]
    # A nested schema that may be null is documented as anyOf: the schema, or a nullable object (apispec, OAS 3.0).
    assert queue.get("nullable") is True or "null" in str(queue.get("type")) or any(
        branch.get("nullable") is True for branch in queue.get("anyOf", []))
    assert h.client.get("/referrals", headers=h.gp()).get_json()["caseload"] is None  # what it documents
    params = spec["paths"]["/referrals/{referral_id}/actions/{action}"]["parameters"]
    [action] = [p for p in params if p["name"] == "action"]
    assert action["in"] == "path" and action["required"] is True and action["schema"]["enum"] == list(ACTIONS)
    offset = next(p for p in spec["paths"]["/referrals"]["get"]["parameters"] if p["name"] == "offset")
    assert offset["schema"]["maximum"] == 100_000


@pytest.mark.parametrize("pointer, body", [
    ("/person/given_name", referral_body({"given_name": "   "})),
    ("/person/family_name", referral_body({"family_name": " \t "})),
    ("/reason", referral_body(reason="   ")),
    ("/duplicate/reason", referral_body(duplicate={"reason": "     "})),
    ("/consent/captured_by", referral_body(consent={**referral_body()["consent"], "captured_by": "  "})),
])
def test_text_of_blanks_is_refused_at_intake(harness, pointer, body):
    refused = harness.client.post("/referrals", json=body, headers=harness.gp())
    assert refused.status_code == 422, refused.get_json()
    assert pointer in [e["pointer"] for e in refused.get_json()["errors"]]


def test_text_of_blanks_is_refused_on_notes_and_actions_and_kept_trimmed_otherwise(harness):
    h = harness
    rid = h.refer().get_json()["id"]
    h.act(rid, "accept", adviser_id="adviser-1")
    note = h.client.post(f"/referrals/{rid}/notes", json={"text": "   "}, headers=h.adviser())
    assert note.status_code == 422 and note.get_json()["errors"][0]["pointer"] == "/text"
    assert h.act(rid, "assign", adviser_id="  ").status_code == 422
    kept = h.client.post(f"/referrals/{rid}/notes", json={"text": "  Called, left a message.  "}, headers=h.adviser())
    assert kept.status_code == 201 and kept.get_json()["notes"][-1]["text"] == "Called, left a message."
