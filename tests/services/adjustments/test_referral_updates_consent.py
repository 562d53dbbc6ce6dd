"""The patient's consent to be emailed how their referral goes travels with the referral request."""

from __future__ import annotations

import json

import sqlalchemy as sa

from tests.services.adjustments.conftest import suggestion_body
from tests.services.adjustments.test_suggestion_rules import pointers


def referral_requests(app) -> list[dict]:
    ctx = app.extensions["worklink"]
    table = ctx.tables.outbox
    with ctx.database.engine.connect() as conn:
        rows = conn.execute(sa.select(table.c.payload).where(table.c.type == "adjustments.referral.requested"))
        return [json.loads(r.payload)["data"] for r in rows]


def issue(client, tokens, **consent) -> dict:
    body = suggestion_body(**{f"consent.{k}": v for k, v in consent.items()})
    created = client.post("/suggestions", json=body, headers=tokens.header())
    assert created.status_code == 201, created.get_json()
    issued = client.post(f"/suggestions/{created.get_json()['id']}/issue", json={"version": 1}, headers=tokens.header())
    assert issued.status_code == 200, issued.get_json()
    return client.get(f"/suggestions/{created.get_json()['id']}", headers=tokens.header()).get_json()


def test_the_consent_to_updates_rides_on_the_referral_request(app, client, tokens):
    agreed = issue(client, tokens, refer_to_employment_adviser=True, referral_updates_by_email=True)
    assert agreed["consent"]["referral_updates_by_email"] is True
    not_asked = issue(client, tokens, refer_to_employment_adviser=True)
    assert not_asked["consent"]["referral_updates_by_email"] is False
    sent = {r["suggestion_id"]: r for r in referral_requests(app)}
    assert sent[agreed["id"]]["updates_by_email"] is True
    assert sent[agreed["id"]]["person"]["email"] == "sam@example.org"
    assert sent[not_asked["id"]]["updates_by_email"] is False


def test_updates_need_the_referral_consent_and_an_email(client, tokens):
    without_referral = client.post("/suggestions", headers=tokens.header(), json=suggestion_body(
        **{"consent.referral_updates_by_email": True}))
    assert without_referral.status_code == 422
    assert "referral" in pointers(without_referral)["/consent/referral_updates_by_email"]
    without_email = client.post("/suggestions", headers=tokens.header(), json=suggestion_body(
        **{"consent.refer_to_employment_adviser": True, "consent.referral_updates_by_email": True,
           "patient.email": ...}))
    assert without_email.status_code == 422
    assert "email" in pointers(without_email)["/consent/referral_updates_by_email"]


def test_outcomes_go_back_to_the_practice_only_when_the_patient_agreed(app, client, tokens):
    """The referral hand-over says what the patient was asked, and when (a time with its offset)."""
    not_asked = issue(client, tokens, refer_to_employment_adviser=True)
    agreed = issue(client, tokens, refer_to_employment_adviser=True, outcomes_to_gp=True)
    assert (not_asked["consent"]["outcomes_to_gp"], agreed["consent"]["outcomes_to_gp"]) == (False, True)
    sent = {r["suggestion_id"]: r for r in referral_requests(app)}
    assert sent[not_asked["id"]]["outcomes_to_gp"] is False
    assert sent[agreed["id"]]["outcomes_to_gp"] is True
    for request in sent.values():
        assert request["consented_at"].endswith(("Z", "+00:00")), request["consented_at"]


def test_outcomes_to_gp_needs_the_referral_consent_and_is_not_assumed_on_an_amendment(app, client, tokens):
    refused = client.post("/suggestions", headers=tokens.header(),
                          json=suggestion_body(**{"consent.outcomes_to_gp": True}))
    assert refused.status_code == 422
    assert "referral" in pointers(refused)["/consent/outcomes_to_gp"]
    # Referral consent recorded by an amendment, then the referral asked for through the API.
    s = issue(client, tokens)
    body = suggestion_body(**{"consent.refer_to_employment_adviser": True})
    body["version"] = s["version"]
    amended = client.post(f"/suggestions/{s['id']}/amend", json=body, headers=tokens.header())
    assert amended.status_code == 200, amended.get_json()
    sent = [r for r in referral_requests(app) if r["suggestion_id"] == s["id"]]
    assert [r["outcomes_to_gp"] for r in sent] == [False]


def test_a_referral_request_cannot_claim_an_outcomes_consent_the_suggestion_does_not_record(app, client, tokens):
    """`outcomes_to_gp: true` in a request overrode the suggestion's recorded 'not asked': the adviser was told the
    patient agreed to outcomes going to the practice, with the time of a consent that said no such thing."""
    from worklink_adjustments.models import ReferralRequest

    s = issue(client, tokens, refer_to_employment_adviser=True)  # outcomes to the practice: not asked
    with app.extensions["worklink"].database.transaction() as session:  # the referral ended: ask again
        session.execute(sa.update(ReferralRequest).values(status="rejected"))
    path, h = f"/suggestions/{s['id']}/referral-requests", tokens.header()
    claimed = client.post(path, json={"version": s["version"], "outcomes_to_gp": True}, headers=h)
    assert claimed.status_code == 409 and claimed.get_json()["missing_consent"] == "outcomes_to_gp"
    assert [r["outcomes_to_gp"] for r in referral_requests(app)] == [False]
    assert client.post(path, json={"version": s["version"]}, headers=h).status_code == 201
    assert [r["outcomes_to_gp"] for r in referral_requests(app)] == [False, False]

    agreed = issue(client, tokens, refer_to_employment_adviser=True, outcomes_to_gp=True)
    with app.extensions["worklink"].database.transaction() as session:
        session.execute(sa.update(ReferralRequest).values(status="rejected"))
    narrower = client.post(f"/suggestions/{agreed['id']}/referral-requests",
                           json={"version": agreed["version"], "outcomes_to_gp": False}, headers=h)
    assert narrower.status_code == 201  # asking for less than was agreed is the patient's choice to make
    assert [r["outcomes_to_gp"] for r in referral_requests(app)][-1] is False
