"""A person's rights in the adjustments service: the subject access export (POST /people/subject-access) and
erasure on request (POST /people/erasure), for an alliance admin across every practice and for a practice's
organisation admin across its own suggestions (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import uuid

import pytest
import sqlalchemy as sa

from tests.services.adjustments.conftest import OTHER_PRACTICE, PRACTICE, VALID_NHS, patient_reference
from tests.services.adjustments.test_employer_api_and_rounds import ANSWER, letter_token
from tests.services.adjustments.test_retention import OTHER_NHS, PERSONAL, create, issue, row, text_held
from worklink_adjustments.models import PLATFORM

REFER = {"consent.refer_to_employment_adviser": True, "job.notes": "Private note about the employer"}
SPACED = f"{VALID_NHS[:3]} {VALID_NHS[3:6]}-{VALID_NHS[6:]}"


def sam(app, client, tokens, used_links: list | None = None) -> tuple[str, str, str]:
    """Sam's advice at their practice (issued, referred, answered by the employer), a draft another practice
    started for them, and someone else's advice. The employer's spent link is added to used_links (the letter
    no longer shows it once answered)."""
    first = issue(client, tokens, **REFER)["id"]
    token = letter_token(client, tokens, first)
    if used_links is not None:
        used_links.append(token)
    answered = client.post(f"/employer-links/{token}/response",
                           json={**ANSWER, "comments": "Jo Manager will meet Sam weekly"})
    assert answered.status_code == 201, answered.get_json()
    second = create(client, tokens, headers=tokens.header(org=OTHER_PRACTICE, subject="dr-bo"))["id"]
    other = issue(client, tokens, **{"patient.nhs_number": OTHER_NHS, "patient.given_name": "Mary",
                                     "patient.family_name": "Somerville"})["id"]
    return first, second, other


def admin(tokens, role: str = "alliance_admin", org=None) -> dict:
    return tokens.header(role=role, org=org, subject=f"{role}-1")


def audits(app, action: str) -> list[tuple]:
    audit = PLATFORM.audit_log.c
    with app.extensions["worklink"].database.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(audit.resource_id, audit.person_id, audit.purpose)
                                               .where(audit.action == action).order_by(audit.id))]


def outbox(app) -> list[dict]:
    table = PLATFORM.outbox
    with app.extensions["worklink"].database.engine.connect() as conn:
        return [json.loads(p) for p in conn.execute(sa.select(table.c.payload).order_by(table.c.position)).scalars()]


def test_subject_access_exports_everything_held_about_the_person_across_practices(svc):
    app, client, tokens = svc
    first, second, other = sam(app, client, tokens)

    answer = client.post("/people/subject-access", json={"nhs_number": SPACED}, headers=admin(tokens))
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert [s["id"] for s in body["suggestions"]] == [first, second]
    advice = body["suggestions"][0]
    assert (advice["nhs_number"], advice["given_name"], advice["birth_date"], advice["email"]) == (
        VALID_NHS, "Sam", "1985-04-12", "sam@example.org")
    assert advice["conditions"][0]["text"] == "Depression" and advice["functional_effects"].startswith("Tires")
    assert advice["job"]["notes"] == "Private note about the employer"
    [response] = advice["employer_responses"]
    assert (response["comments"], response["responder_name"]) == ("Jo Manager will meet Sam weekly", "Jo Manager")
    assert [r["status"] for r in advice["referral_requests"]] == ["requested"]
    [link] = advice["employer_links"]
    assert link["used_at"] and not any("token" in key for key in link)  # no token is stored, none is shown
    # Who saw it, from the audit trail: the practice and the employer (through the link), by role.
    assert {"gp", "employer"} <= {a["role"] for a in advice["accessed"]}
    assert body["organisations"] == sorted([str(PRACTICE), str(OTHER_PRACTICE)])
    assert "Somerville" not in answer.get_data(as_text=True)
    purpose = "subject access request"
    patient = patient_reference(app)
    assert [a for a in audits(app, "export") if a[2] == purpose] == [(first, patient, purpose),
                                                                     (second, patient, purpose)]

    # A practice's organisation admin answers for their own practice's suggestions only.
    own = client.post("/people/subject-access", json={"nhs_number": VALID_NHS},
                      headers=admin(tokens, "org_admin", OTHER_PRACTICE))
    assert own.status_code == 200 and [s["id"] for s in own.get_json()["suggestions"]] == [second]


def test_subject_access_refusals(svc):
    app, client, tokens = svc
    sam(app, client, tokens)
    nothing = client.post("/people/subject-access", json={"nhs_number": "4010232145"}, headers=admin(tokens))
    assert nothing.status_code == 404 and nothing.mimetype == "application/problem+json"
    unrelated = client.post("/people/subject-access", json={"nhs_number": VALID_NHS},
                            headers=admin(tokens, "org_admin", uuid.uuid4()))
    assert unrelated.status_code == 404  # another organisation's admin: nothing they answer for
    typo = client.post("/people/subject-access", json={"nhs_number": VALID_NHS[:-1] + "8"}, headers=admin(tokens))
    assert typo.status_code == 422 and [e["pointer"] for e in typo.get_json()["errors"]] == ["/nhs_number"]
    missing = client.post("/people/subject-access", json={}, headers=admin(tokens))
    assert [e["pointer"] for e in missing.get_json()["errors"]] == ["/nhs_number"]
    for who in (tokens.header(), admin(tokens, "adviser", PRACTICE)):
        assert client.post("/people/subject-access", json={"nhs_number": VALID_NHS}, headers=who).status_code == 403
    assert client.post("/people/subject-access", json={"nhs_number": VALID_NHS}).status_code == 401
    assert [a for a in audits(app, "export") if a[2] == "subject access request"] == []


def test_erasure_on_request_ends_what_is_in_use_then_erases_every_suggestion(svc):
    app, client, tokens = svc
    used_links = []
    first, second, other = sam(app, client, tokens, used_links)
    [token] = used_links  # the round's used link; a usable one is checked below
    other_before = row(app, other)

    done = client.post("/people/erasure", json={"nhs_number": VALID_NHS, "reason": "objection"},
                       headers=admin(tokens))
    assert done.status_code == 200, done.get_json()
    assert done.get_json() == {"reason": "objection", "erased": [
        {"suggestion_id": first, "status": "withdrawn", "withdrawn": True, "referral_consent_withdrawn": True},
        {"suggestion_id": second, "status": "draft", "withdrawn": False, "referral_consent_withdrawn": False}]}

    assert row(app, other) == other_before  # someone else's advice is untouched
    for sid in (first, second):
        assert row(app, sid)["erased_at"] is not None and row(app, sid)["nhs_number"] is None
    # Consumers hear the advice was withdrawn at the patient's request, and the referrals service that
    # the referral consent was withdrawn; the person's details are in no table, the outbox included.
    events = outbox(app)
    assert [(e["data"]["suggestion_id"], e["data"]["reason"]) for e in events
            if e["type"] == "adjustments.suggestion.withdrawn"] == [(first, "patient_request")]
    assert [e["data"]["suggestion_id"] for e in events if e["type"] == "adjustments.referral.consent_withdrawn"] == [
        first]
    assert not [e for e in events if e["type"] == "adjustments.referral.requested"]
    held = text_held(app, {first, second})
    for secret in PERSONAL:
        assert secret not in held, secret
    purpose = "erasure request: objection"
    assert audits(app, "erase") == [(first, first, purpose), (second, second, purpose)]

    gone = client.get(f"/employer-links/{token}")
    assert gone.status_code == 410 and gone.get_json()["reason"] == "withdrawn"
    assert client.post("/people/subject-access", json={"nhs_number": VALID_NHS},
                       headers=admin(tokens)).status_code == 404  # nothing held by that NHS number now
    again = client.post("/people/erasure", json={"nhs_number": VALID_NHS, "reason": "objection"}, headers=admin(tokens))
    assert again.status_code == 404 and len(audits(app, "erase")) == 2

    # The clinician still sees the advice's codes and dates, without the patient, and no letter.
    page = client.get(f"/review/{first}", headers={**tokens.header(), "Accept": "text/html"})
    shown = page.get_data(as_text=True).split('id="maincontent"', 1)[1]  # not the head's random CSP nonce
    assert page.status_code == 200 and "Sam" not in shown
    assert "details were erased" in page.get_data(as_text=True)
    assert "Employer letter" not in page.get_data(as_text=True) and "None" not in page.get_data(as_text=True)
    assert client.get(f"/suggestions/{first}/letter", headers=tokens.header()).status_code == 410
    listing = client.get("/", headers={**tokens.header(), "Accept": "text/html"}).get_data(as_text=True)
    assert "Details erased" in listing and "Sam Patel" not in listing


def test_erasure_revokes_a_usable_employer_link(svc):
    app, client, tokens = svc
    s = issue(client, tokens)
    token = letter_token(client, tokens, s["id"])
    assert client.get(f"/employer-links/{token}").status_code == 200
    done = client.post("/people/erasure", json={"nhs_number": VALID_NHS, "reason": "consent_withdrawn"},
                       headers=admin(tokens, "org_admin", PRACTICE))
    assert done.status_code == 200, done.get_json()
    refused = client.get(f"/employer-links/{token}")
    assert refused.status_code == 410 and "Sam" not in refused.get_data(as_text=True)


def test_erasure_refusals(svc):
    app, client, tokens = svc
    first, second, other = sam(app, client, tokens)
    before = row(app, first)
    wrong = client.post("/people/erasure", json={"nhs_number": VALID_NHS, "reason": "because"}, headers=admin(tokens))
    assert wrong.status_code == 422 and [e["pointer"] for e in wrong.get_json()["errors"]] == ["/reason"]
    assert client.post("/people/erasure", json={"nhs_number": VALID_NHS, "reason": "objection"},
                       headers=tokens.header()).status_code == 403
    elsewhere = client.post("/people/erasure", json={"nhs_number": VALID_NHS, "reason": "objection"},
                            headers=admin(tokens, "org_admin", uuid.uuid4()))
    assert elsewhere.status_code == 404 and elsewhere.mimetype == "application/problem+json"
    assert row(app, first) == before and audits(app, "erase") == []


@pytest.mark.parametrize("path", ["/people/subject-access", "/people/erasure"])
def test_the_person_is_named_in_the_body_never_the_url(client, path):
    spec = client.get("/openapi.json").get_json()["paths"][path]
    assert list(spec) == ["post"] and not spec["post"].get("parameters")


def test_an_admins_review_of_the_persons_accesses_does_not_keep_their_reference_after_erasure(svc):
    app, client, tokens = svc
    first, second, _ = sam(app, client, tokens)
    patient = patient_reference(app)
    review = client.get("/audit/entries", query_string={"person": VALID_NHS}, headers=admin(tokens))
    assert review.status_code == 200 and review.get_json()["total"] > 0
    audit = PLATFORM.audit_log.c
    with app.extensions["worklink"].database.engine.connect() as conn:
        reviews = conn.execute(sa.select(audit.resource_id, audit.person_id)
                               .where(audit.resource_type == "audit_log")).all()
    assert (patient, patient) in reviews  # the review names whose accesses were looked at, by reference

    erased = client.post("/people/erasure", json={"nhs_number": VALID_NHS, "reason": "objection"},
                         headers=admin(tokens))
    assert erased.status_code == 200, erased.get_json()
    with app.extensions["worklink"].database.engine.connect() as conn:
        left = conn.execute(sa.select(audit.resource_id, audit.person_id, audit.resource_type)
                            .where(sa.or_(audit.resource_id.in_([VALID_NHS, patient]),
                                          audit.person_id.in_([VALID_NHS, patient])))).all()
    assert left == []
