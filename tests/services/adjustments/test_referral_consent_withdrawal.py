"""The patient withdraws the consent a referral request was made with: the clinician records it by
amending the suggestion (unticking the referral consent), and a restricted
`adjustments.referral.consent_withdrawn` follows the request on its topic and key."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone

import sqlalchemy as sa

from worklink.events.contracts import CATALOGUE
from worklink.messaging.consumer import ReceivedEvent
from worklink_adjustments.events import on_referral_lifecycle
from worklink_adjustments.models import PLATFORM
from tests.services.adjustments.conftest import OTHER_PRACTICE, suggestion_body
from tests.services.adjustments.test_lifecycle import audit_rows, create

REFER = {"consent.refer_to_employment_adviser": True}


def outbox(app) -> list[dict]:
    table = PLATFORM.outbox
    with app.extensions["worklink"].database.engine.connect() as conn:
        rows = conn.execute(sa.select(table.c.type, table.c.aggregatetype, table.c.aggregateid, table.c.payload)
                            .order_by(table.c.position)).all()
    return [{"type": r.type, "topic": r.aggregatetype, "key": r.aggregateid, "data": json.loads(r.payload)["data"]} for r in rows]


def amend(client, tokens, sid: str, version: int, **overrides) -> dict:
    response = client.post(f"/suggestions/{sid}/amend", json={**suggestion_body(**overrides), "version": version},
                           headers=tokens.header())
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def issued(client, tokens, **overrides) -> dict:
    draft = create(client, tokens, **overrides)
    response = client.post(f"/suggestions/{draft['id']}/issue", json={"version": 1}, headers=tokens.header())
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def withdrawals(app) -> list[dict]:
    return [e for e in outbox(app) if e["type"] == "adjustments.referral.consent_withdrawn"]


def test_unticking_the_referral_consent_withdraws_the_request_sent(svc):
    app, client, tokens = svc
    s = issued(client, tokens, **REFER)
    amended = amend(client, tokens, s["id"], s["version"])  # the body's default: no referral consent

    request = next(e for e in outbox(app) if e["type"] == "adjustments.referral.requested")
    [withdrawn] = withdrawals(app)
    assert (withdrawn["topic"], withdrawn["key"]) == (request["topic"], request["key"])  # follows it, never overtakes
    assert withdrawn["topic"] == "adjustments.referral-requests"
    data = withdrawn["data"]
    assert {k: data[k] for k in ("request_id", "suggestion_id", "consent_id", "recorded_by")} == {
        "request_id": request["data"]["request_id"], "suggestion_id": s["id"],
        "consent_id": request["data"]["consent_id"], "recorded_by": "dr-ada"}
    assert set(data) == {"request_id", "suggestion_id", "practice_id", "consent_id", "recorded_by", "withdrawn_at"}
    assert amended["referrals"][0]["status"] == "consent_withdrawn"
    assert ("update", "referral_consent_withdrawn") in {(r.action, r.purpose) for r in audit_rows(app)}
    # the same transaction as the amendment: it and the withdrawal are both there, in order
    types = [e["type"] for e in outbox(app)]
    assert types.index("adjustments.suggestion.amended") < types.index("adjustments.referral.consent_withdrawn")

    summary = client.get(f"/suggestions/{s['id']}/summary", headers=tokens.header()).get_data(as_text=True)
    assert "You withdrew your agreement to be referred to an employment adviser" in summary
    assert "You have not asked to be referred" not in summary

    # a further amendment without the consent sends nothing more
    amend(client, tokens, s["id"], amended["version"])
    assert len(withdrawals(app)) == 1


def test_no_withdrawal_without_a_request_sent(svc):
    app, client, tokens = svc
    never = issued(client, tokens)
    amend(client, tokens, never["id"], never["version"], **{"reassessment_needed": False})
    # consent recorded on a draft, then removed before issuing: nothing was ever sent
    draft = create(client, tokens, **REFER)
    updated = client.put(f"/suggestions/{draft['id']}", json={**suggestion_body(), "version": 1},
                         headers=tokens.header())
    assert updated.status_code == 200, updated.get_json()
    assert withdrawals(app) == []
    assert "adjustments.referral.requested" not in {e["type"] for e in outbox(app)}
    summary = client.get(f"/suggestions/{never['id']}/summary", headers=tokens.header()).get_data(as_text=True)
    assert "You have not asked to be referred to an employment adviser." in summary


def test_consenting_again_starts_a_new_request(svc):
    app, client, tokens = svc
    s = issued(client, tokens, **REFER)
    withdrawn = amend(client, tokens, s["id"], s["version"])
    again = amend(client, tokens, s["id"], withdrawn["version"], **REFER)
    requests = [e["data"]["request_id"] for e in outbox(app) if e["type"] == "adjustments.referral.requested"]
    assert len(set(requests)) == 2
    assert [r["status"] for r in again["referrals"]] == ["consent_withdrawn", "requested"]
    summary = client.get(f"/suggestions/{s['id']}/summary", headers=tokens.header()).get_data(as_text=True)
    assert "You agreed to be referred to an employment adviser" in summary


def lifecycle_event(step: str, request_id: str, version: int, reason: str | None = None) -> ReceivedEvent:
    data = {"referral_id": uuid.uuid4(), "status": step, "referrer_org_id": uuid.uuid4(), "request_id": uuid.UUID(request_id),
            "suggestion_id": None, "version": version, "reason": reason, "occurred_at": datetime.now(timezone.utc)}
    envelope, _ = CATALOGUE.build(f"referrals.referral.{step}", data, source="urn:worklink:referrals")
    return ReceivedEvent(envelope, None, data, "referrals.referral", 0, 0)  # type: ignore[arg-type]


def test_a_step_taken_before_the_referral_heard_of_the_withdrawal_does_not_reopen_it(svc):
    app, client, tokens = svc
    s = issued(client, tokens, **REFER)
    amended = amend(client, tokens, s["id"], s["version"])
    request_id = amended["referrals"][0]["request_id"]
    database = app.extensions["worklink"].database
    with database.transaction() as session:
        on_referral_lifecycle(session, lifecycle_event("accepted", request_id, 3))
    assert client.get(f"/suggestions/{s['id']}", headers=tokens.header()).get_json()["referrals"][0]["status"] \
        == "consent_withdrawn"
    with database.transaction() as session:
        on_referral_lifecycle(session, lifecycle_event("cancelled", request_id, 4, reason="consent_withdrawn"))
    referral = client.get(f"/suggestions/{s['id']}", headers=tokens.header()).get_json()["referrals"][0]
    assert (referral["status"], referral["reason"]) == ("cancelled", "consent_withdrawn")
    # still not open: unticking again sends nothing
    amend(client, tokens, s["id"], amended["version"])
    assert len(withdrawals(app)) == 1


def test_the_withdrawal_can_be_recorded_after_the_advice_has_ended(svc):
    """Withdrawing the advice does not end the referral (its reason codes do not say the patient
    withdrew consent); the consent withdrawal is its own record, possible once the advice ended."""
    app, client, tokens = svc
    s = issued(client, tokens, **REFER, **{"consent.referral_updates_by_email": True})
    ended = client.post(f"/suggestions/{s['id']}/withdraw", json={"version": s["version"], "reason": "condition_changed"},
                        headers=tokens.header()).get_json()
    assert withdrawals(app) == []  # the advice ended; the referral carries on

    url = f"/suggestions/{s['id']}/referral-consent-withdrawal"
    stale = client.post(url, json={"version": s["version"]}, headers=tokens.header())
    assert stale.status_code == 409 and stale.headers["Content-Type"] == "application/problem+json"
    recorded = client.post(url, json={"version": ended["version"]}, headers=tokens.header())
    assert recorded.status_code == 200, recorded.get_json()
    [withdrawn] = withdrawals(app)
    assert withdrawn["data"]["suggestion_id"] == s["id"]
    view = client.get(f"/suggestions/{s['id']}", headers=tokens.header()).get_json()
    assert view["consent"]["refer_to_employment_adviser"] is False
    assert view["consent"]["referral_updates_by_email"] is False
    assert view["referrals"][0]["status"] == "consent_withdrawn"
    assert ("update", "withdraw_referral_consent") in {(r.action, r.purpose) for r in audit_rows(app)}

    again = client.post(url, json={"version": recorded.get_json()["version"]}, headers=tokens.header())
    assert again.status_code == 409 and again.get_json()["missing_consent"] == "refer_to_employment_adviser"
    other = client.post(url, json={"version": recorded.get_json()["version"]},
                        headers=tokens.header(org=OTHER_PRACTICE, subject="dr-other"))
    assert other.status_code == 404
    assert len(withdrawals(app)) == 1


def test_a_draft_has_no_referral_consent_to_withdraw(svc):
    app, client, tokens = svc
    draft = create(client, tokens, **REFER)
    refused = client.post(f"/suggestions/{draft['id']}/referral-consent-withdrawal", json={"version": 1},
                          headers=tokens.header())
    assert refused.status_code == 409
    assert withdrawals(app) == []
