"""`adjustments.referral.consent_withdrawn`: the clinician recorded that the patient withdrew the
consent their referral request was made with. The handler is called directly here (the consumer's
own machinery is tested in test_events.py and, end to end, in tests/e2e)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import sqlalchemy as sa

from worklink.events.contracts import CATALOGUE
from worklink.messaging.consumer import ReceivedEvent
from worklink_referrals import events
from worklink_referrals.models import PLATFORM, Referral, Transition
from tests.services.referrals.test_events import request_data


def deliver(h, event_type: str, data: dict) -> None:
    """One delivery (a new event id each time, as a producer retry would have)."""
    envelope, _ = CATALOGUE.build(event_type, data, source="urn:worklink:adjustments")
    entry, loaded = CATALOGUE.load(envelope)
    with h.ctx.database.transaction() as session:
        events.HANDLERS[event_type](session, ReceivedEvent(envelope, entry, loaded, entry.topic, 0, 0))


def withdrawal(request: dict, **overrides) -> dict:
    return {"request_id": request["request_id"], "suggestion_id": request["suggestion_id"],
            "practice_id": request["practice_id"], "consent_id": request["consent_id"],
            "recorded_by": "gp-clinician-7", "withdrawn_at": datetime.now(timezone.utc), **overrides}


def referral_for(h, request: dict) -> Referral:
    with h.ctx.database.transaction() as session:
        referral = session.scalar(sa.select(Referral).where(Referral.request_id == request["request_id"]))
        session.expunge(referral)
        return referral


def outbox_types(h) -> list[str]:
    with h.ctx.database.engine.connect() as conn:
        return [r.type for r in conn.execute(sa.select(PLATFORM.outbox.c.type).order_by(PLATFORM.outbox.c.position))]


def audit_about(h, rid) -> list:
    audit = PLATFORM.audit_log
    with h.ctx.database.engine.connect() as conn:
        return conn.execute(sa.select(audit).where(audit.c.resource_id == str(rid)).order_by(audit.c.id)).all()


def test_withdrawal_cancels_the_open_referral_once(both):
    h = both
    request = request_data()
    deliver(h, "adjustments.referral.requested", request)
    rid = referral_for(h, request).id
    before = outbox_types(h)

    deliver(h, "adjustments.referral.consent_withdrawn", withdrawal(request))
    referral = referral_for(h, request)
    assert (referral.status, referral.status_reason) == ("cancelled", "consent_withdrawn")
    assert referral.consent_withdrawn_at is not None and referral.outcomes_to_referrer is False
    assert outbox_types(h)[len(before):] == ["referrals.referral.cancelled"]
    with h.ctx.database.engine.connect() as conn:
        cancelled = conn.execute(sa.select(PLATFORM.outbox.c.payload).where(
            PLATFORM.outbox.c.type == "referrals.referral.cancelled")).scalar_one()
    assert json.loads(cancelled)["data"]["request_id"] == str(request["request_id"])  # back to the clinician
    assert [(a.action, a.actor, a.actor_role, a.actor_org, a.purpose) for a in audit_about(h, rid)][-1] == (
        "update", "gp-clinician-7", "gp", str(request["practice_id"]), "adjustments.referral.consent_withdrawn")

    # Redelivered (another event id): nothing more is cancelled, published or audited.
    transitions, audited = _transitions(h, rid), len(audit_about(h, rid))
    deliver(h, "adjustments.referral.consent_withdrawn", withdrawal(request))
    assert outbox_types(h)[len(before):] == ["referrals.referral.cancelled"]
    assert _transitions(h, rid) == transitions and len(audit_about(h, rid)) == audited
    assert referral_for(h, request).version == referral.version


def _transitions(h, rid) -> list[tuple]:
    with h.ctx.database.transaction() as session:
        return [(t.action, t.to_status, t.reason) for t in
                session.scalars(sa.select(Transition).where(Transition.referral_id == rid).order_by(Transition.id))]


def test_an_ended_referral_still_records_the_withdrawal_and_stops_outcomes_going_back(both):
    h = both
    request = request_data()
    deliver(h, "adjustments.referral.requested", request)
    rid = referral_for(h, request).id
    rejected = h.act(rid, "reject", reason="not_eligible")
    assert rejected.status_code == 200, rejected.get_json()
    before = outbox_types(h)

    deliver(h, "adjustments.referral.consent_withdrawn", withdrawal(request))
    referral = referral_for(h, request)
    assert referral.status == "rejected"  # it had ended: no new move, no event
    assert referral.consent_withdrawn_at is not None and referral.outcomes_to_referrer is False
    assert outbox_types(h) == before


def test_a_request_that_made_no_referral_is_logged_and_changes_nothing(both, caplog):
    h = both
    request = request_data()
    before = outbox_types(h)
    with caplog.at_level("INFO", logger="worklink_referrals.events"):
        deliver(h, "adjustments.referral.consent_withdrawn", withdrawal(request))  # no exception: no DLT
    assert "made no referral" in caplog.text
    assert outbox_types(h) == before
    with h.ctx.database.transaction() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Referral)) == 0
        assert session.scalar(sa.select(sa.func.count()).select_from(PLATFORM.audit_log)) == 0


def test_the_withdrawal_follows_the_request_on_its_restricted_topic_and_key():
    requested = CATALOGUE.latest("adjustments.referral.requested")
    withdrawn = CATALOGUE.latest("adjustments.referral.consent_withdrawn")
    assert (withdrawn.topic, withdrawn.key, withdrawn.restricted) == (requested.topic, requested.key, True)
    assert set(withdrawn.schema().fields) == {"request_id", "suggestion_id", "practice_id", "consent_id",
                                              "recorded_by", "withdrawn_at"}
