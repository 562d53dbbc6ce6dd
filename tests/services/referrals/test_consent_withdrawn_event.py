"""`adjustments.referral.consent_withdrawn`: the clinician recorded that the patient withdrew the
consent their referral request was made with. The handler is called directly here (the consumer's
own machinery is tested in test_events.py and, end to end, in tests/e2e)."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from worklink.events.contracts import CATALOGUE
from worklink.messaging.consumer import ReceivedEvent
from worklink_referrals import events
from worklink_referrals.models import PLATFORM, Referral, Transition, WithdrawnRequest
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


def test_a_request_that_made_no_referral_is_logged_and_remembered_and_changes_nothing_else(both, caplog):
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
        # Remembered (ids only) in case the request comes later: test_withdrawal_before_request.py
        assert session.scalars(sa.select(WithdrawnRequest.request_id)).all() == [request["request_id"]]


def test_the_withdrawal_follows_the_request_on_its_restricted_topic_and_key():
    requested = CATALOGUE.latest("adjustments.referral.requested")
    withdrawn = CATALOGUE.latest("adjustments.referral.consent_withdrawn")
    assert (withdrawn.topic, withdrawn.key, withdrawn.restricted) == (requested.topic, requested.key, True)
    assert set(withdrawn.schema().fields) == {"request_id", "suggestion_id", "practice_id", "consent_id",
                                              "recorded_by", "withdrawn_at"}


# --- re-consent racing the withdrawal -------------------------------------------------------------------
# The patient withdraws (request 1), then consents again (request 2). The withdrawal travels on request 1's
# key, the new request on its own: another partition, so the new request can be handled first, while the
# referral it would duplicate is still open. Whatever the order, the person must end with the withdrawn
# referral cancelled and one live referral for the new consent, linked to nothing.


def _end_state(h, first: dict, second: dict) -> dict:
    old, new = referral_for(h, first), referral_for(h, second)
    with h.ctx.database.transaction() as session:
        live = session.scalars(sa.select(Referral.request_id).where(
            Referral.status.in_(("submitted", "triage", "accepted", "in_progress", "on_hold")))).all()
    return {"old": (old.status, old.status_reason, old.consent_withdrawn_at is not None),
            "new": (new.status, new.duplicate_of_id, new.duplicate_reason, new.consent_withdrawn_at),
            "live": live}


CONVERGED = lambda second: {"old": ("cancelled", "consent_withdrawn", True),  # noqa: E731
                            "new": ("submitted", None, None, None), "live": [second["request_id"]]}


def test_a_new_request_handled_before_the_old_ones_withdrawal_ends_as_the_one_live_unlinked_referral(both):
    h = both
    first, second = request_data(), request_data()  # the same person, a new request and consent
    deliver(h, "adjustments.referral.requested", first)

    deliver(h, "adjustments.referral.requested", second)  # overtakes the withdrawal
    assert referral_for(h, second).duplicate_of_id == referral_for(h, first).id  # the race: linked meanwhile
    linked_version = referral_for(h, second).version
    deliver(h, "adjustments.referral.consent_withdrawn", withdrawal(first))

    assert _end_state(h, first, second) == CONVERGED(second)
    new = referral_for(h, second)
    assert new.version == linked_version + 1
    assert _transitions(h, new.id)[-1] == ("unlink_duplicate", "submitted", None)
    assert [(a.action, a.actor, a.purpose) for a in audit_about(h, new.id)][-1] == (
        "update", "system", "duplicate link: the referral it named was closed")
    # Redelivered: nothing more changes.
    deliver(h, "adjustments.referral.consent_withdrawn", withdrawal(first))
    assert referral_for(h, second).version == new.version


def test_in_arrival_order_the_new_request_is_never_linked(both):
    h = both
    first, second = request_data(), request_data()
    deliver(h, "adjustments.referral.requested", first)
    deliver(h, "adjustments.referral.consent_withdrawn", withdrawal(first))
    deliver(h, "adjustments.referral.requested", second)
    assert _end_state(h, first, second) == CONVERGED(second)


def test_links_are_re_made_as_intake_would_and_a_referrers_own_link_stays(harness):
    """Two requests overtook the withdrawal: the first of them is the live original now and the second
    its duplicate; a link a referrer made with a reason is theirs and stays."""
    h = harness
    first, second, third = request_data(), request_data(), request_data()
    for request in (first, second, third):
        deliver(h, "adjustments.referral.requested", request)
    h.clock.now = datetime.now(timezone.utc) + timedelta(minutes=1)  # the handler reads the real clock
    by_hand = h.refer(duplicate={"reason": "a separate referral for the evening service"}).get_json()
    old = referral_for(h, first).id
    assert {referral_for(h, r).duplicate_of_id for r in (second, third)} == {old}
    assert by_hand["duplicate_of_id"] == str(old)

    deliver(h, "adjustments.referral.consent_withdrawn", withdrawal(first))
    assert referral_for(h, second).duplicate_of_id is None
    assert referral_for(h, third).duplicate_of_id == referral_for(h, second).id
    assert _transitions(h, referral_for(h, third).id)[-1] == ("relink_duplicate", "submitted", None)
    kept = h.client.get(f"/referrals/{by_hand['id']}", headers=h.gp()).get_json()
    assert (kept["duplicate_of_id"], kept["duplicate_reason"]) == (
        str(old), "a separate referral for the evening service")


def test_a_self_referral_made_before_the_gp_records_the_withdrawal_is_released_too(harness):
    h = harness
    first = request_data(person={"given_name": "Sam", "family_name": "Jones", "birth_date": "1990-01-02",
                                 "postcode": "GL1 1AA"})
    deliver(h, "adjustments.referral.requested", first)
    pending = h.client.post("/self-referrals", json={
        "person": {"given_name": "Sam", "family_name": "Jones", "birth_date": "1990-01-02", "postcode": "GL1 1AA",
                   "email": "sam@example.org"}, "consent": {"explicit": True, "updates_by_email": True},
        "employment_situation": "unemployed"}).get_json()
    assert h.client.post(f"/self-referrals/{pending['id']}/verification",
                         json={"code": pending["code"]}).status_code == 201
    gp_referral = referral_for(h, first).id
    with h.ctx.database.transaction() as session:
        own = session.scalar(sa.select(Referral).where(Referral.source == "self"))
        assert own.duplicate_of_id == gp_referral
        own_id = own.id

    deliver(h, "adjustments.referral.consent_withdrawn", withdrawal(first))
    with h.ctx.database.transaction() as session:
        own = session.get(Referral, own_id)
        assert (own.status, own.duplicate_of_id, own.duplicate_reason) == ("submitted", None, None)


def _received(event_type: str, data: dict) -> ReceivedEvent:
    envelope, _ = CATALOGUE.build(event_type, data, source="urn:worklink:adjustments")
    entry, loaded = CATALOGUE.load(envelope)
    return ReceivedEvent(envelope, entry, loaded, entry.topic, 0, 0)


def _while_held(h, held: tuple[str, dict], racing: tuple[str, dict]) -> None:
    """Handle `held` in a transaction left open until `racing`, handled by another consumer at the same
    moment, waits on a lock it holds (PostgreSQL): two consumers with a partition each."""
    errors: list[BaseException] = []

    def race():
        try:
            deliver(h, *racing)
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            errors.append(exc)

    racer = threading.Thread(target=race)
    with h.ctx.database.transaction() as session:
        events.HANDLERS[held[0]](session, _received(*held))
        racer.start()
        waiting = sa.text("SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                          "WHERE NOT l.granted AND a.datname = current_database()")
        with h.ctx.database.engine.connect() as watcher:
            for _ in range(500):
                if watcher.execute(waiting).scalar() or not racer.is_alive():
                    break
                time.sleep(0.01)
    racer.join(30)
    assert not errors, errors


def test_at_the_same_moment_on_two_consumers_either_order_converges(make_harness, postgres_url):
    h = make_harness(postgres_url)
    h.add_service()
    # The new request's intake is in flight when the withdrawal comes: the withdrawal waits for it.
    first, second = request_data(), request_data()
    deliver(h, "adjustments.referral.requested", first)
    _while_held(h, ("adjustments.referral.requested", second),
                ("adjustments.referral.consent_withdrawn", withdrawal(first)))
    assert _end_state(h, first, second) == CONVERGED(second)

    # The withdrawal is in flight when the new request comes: the intake waits, then finds it closed.
    first, second = request_data(person={**first["person"], "nhs_number": "4010232137", "given_name": "Bo"}), None
    second = request_data(person=first["person"])
    deliver(h, "adjustments.referral.requested", first)
    _while_held(h, ("adjustments.referral.consent_withdrawn", withdrawal(first)),
                ("adjustments.referral.requested", second))
    state = _end_state(h, first, second)
    assert state["old"] == ("cancelled", "consent_withdrawn", True)
    assert state["new"] == ("submitted", None, None, None)
