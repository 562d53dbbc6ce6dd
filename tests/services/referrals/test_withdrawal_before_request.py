"""A consent withdrawal handled before its request: the request was dead-lettered and is re-driven later,
or is redelivered from an older offset. The request must then make no referral, and nothing about the
person may be kept; in the usual order the withdrawal still cancels the referral."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from worklink.logs import JsonFormatter
from worklink.messaging.consumer import DEFAULT_DEDUP_WINDOW, Outcome
from worklink.messaging.topics import TopicSpec
from worklink_referrals import jobs
from worklink_referrals.config import ReferralSettings
from worklink_referrals.models import PLATFORM, Base, Referral, WithdrawnRequest
from tests.services.referrals.test_consent_withdrawn_event import _while_held, deliver, referral_for, withdrawal
from tests.services.referrals.test_events import consume, request_data, rig  # noqa: F401 - rig is a fixture

pytestmark = pytest.mark.timeout(300)

LATE_PERSON = {"nhs_number": "4010232137", "given_name": "Zebedee", "family_name": "Quorrington",
               "birth_date": "1971-04-05", "postcode": "GL3 9ZZ", "phone": "01452999888"}
ITS_DETAILS = ("4010232137", "Zebedee", "Quorrington", "1971-04-05", "GL3 9ZZ", "GL3", "01452999888")


def everything_stored(h) -> str:
    """Every row of every table of the service's database, as text."""
    with h.ctx.database.engine.connect() as conn:
        return "\n".join(repr(row) for table in Base.metadata.sorted_tables
                         for row in conn.execute(sa.select(table)))


def remembered(h) -> list[tuple]:
    with h.ctx.database.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(WithdrawnRequest.request_id, WithdrawnRequest.consent_id,
                                                         WithdrawnRequest.practice_id))]


def test_a_request_re_driven_after_its_withdrawal_makes_no_referral_on_kafka(make_harness, database_url, rig,
                                                                              caplog):
    h = make_harness(database_url)
    h.add_service()
    late = request_data(person=LATE_PERSON)
    on_time = request_data()
    consumer = rig.consumer(h.ctx.database)
    caplog.set_level(logging.INFO)
    try:
        # The request was dead-lettered: on its partition the withdrawal behind it is handled first ...
        rig.publish("adjustments.referral.consent_withdrawn", withdrawal(late))
        assert consume(consumer, 1) == [Outcome.HANDLED]
        # ... and the request comes back later, put on its topic again by a re-drive.
        rig.publish("adjustments.referral.requested", late)
        assert consume(consumer, 1) == [Outcome.HANDLED]  # refused, not dead-lettered
        # In the usual order the withdrawal still cancels the referral.
        rig.publish("adjustments.referral.requested", on_time)
        rig.publish("adjustments.referral.consent_withdrawn", withdrawal(on_time))
        assert consume(consumer, 2) == [Outcome.HANDLED] * 2
    finally:
        consumer.close()

    with h.ctx.database.transaction() as session:
        assert session.scalars(sa.select(Referral.request_id)).all() == [on_time["request_id"]]
    cancelled = referral_for(h, on_time)
    assert (cancelled.status, cancelled.status_reason) == ("cancelled", "consent_withdrawn")
    assert remembered(h) == [(late["request_id"], late["consent_id"], late["practice_id"])]  # ids only

    stored = everything_stored(h)
    assert not [detail for detail in ITS_DETAILS if detail in stored]
    logged = "\n".join(JsonFormatter().format(r) for r in caplog.records)
    assert not [detail for detail in ITS_DETAILS if detail in logged]
    assert f"referral request {late['request_id']} refused" in logged
    audit = PLATFORM.audit_log
    with h.ctx.database.engine.connect() as conn:
        [refusal] = conn.execute(sa.select(audit).where(audit.c.resource_id == str(late["request_id"]))).all()
    assert (refusal.action, refusal.resource_type, refusal.person_id, refusal.actor, refusal.actor_org) == (
        "denied", "referral_request", None, "gp-clinician-7", str(late["practice_id"]))
    with h.ctx.database.engine.connect() as conn:  # nothing published about a referral that was never made
        types = conn.execute(sa.select(PLATFORM.outbox.c.type, PLATFORM.outbox.c.payload)).all()
    assert not [t for t, payload in types if str(late["request_id"]) in payload]


def test_a_redelivered_withdrawal_is_remembered_once_and_the_consent_it_names_is_refused_too(both):
    h = both
    late = request_data()
    deliver(h, "adjustments.referral.consent_withdrawn", withdrawal(late))
    deliver(h, "adjustments.referral.consent_withdrawn", withdrawal(late))  # another event id
    assert remembered(h) == [(late["request_id"], late["consent_id"], late["practice_id"])]
    # The same consent under another request id is still the consent withdrawn.
    deliver(h, "adjustments.referral.requested", {**late, "request_id": uuid.uuid4()})
    deliver(h, "adjustments.referral.requested", late)
    with h.ctx.database.transaction() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Referral)) == 0
    # Another request with its own consent goes through.
    deliver(h, "adjustments.referral.requested", request_data())
    with h.ctx.database.transaction() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Referral)) == 1


def test_the_clock_forgets_a_withdrawal_once_no_topic_can_bring_its_request_back(both):
    h = both
    late = request_data()
    deliver(h, "adjustments.referral.consent_withdrawn", withdrawal(late))
    keep = jobs.withdrawal_memory()
    heard = datetime.now(timezone.utc)
    jobs.run_once(h.ctx.database, ReferralSettings(), now=heard + keep - timedelta(minutes=5))
    assert remembered(h) != []
    jobs.run_once(h.ctx.database, ReferralSettings(), now=heard + keep + timedelta(minutes=5))
    assert remembered(h) == []


def _spec(name: str, days: float, segment_hours: float | None) -> TopicSpec:
    return TopicSpec(name, 3, 1, int(days * 86_400_000), segment_ms=int(segment_hours * 3_600_000)
                     if segment_hours is not None else None)


def test_a_withdrawal_is_kept_for_both_retentions_of_the_request_topic_and_its_dlt():
    topic = "adjustments.referral-requests"
    declared = [_spec(topic, 3, 6), _spec(topic + ".dlt", 7, 6)]
    # DLT (7 d + 6 h) until a re-drive, then the topic again (3 d + 6 h), and a day for a consumer behind.
    assert jobs.withdrawal_memory(declared) == timedelta(days=11, hours=12)
    no_segment = [_spec(topic, 3, None), _spec(topic + ".dlt", 7, None)]  # the broker's 7-day segments
    assert jobs.withdrawal_memory(no_segment) == timedelta(days=25)
    assert jobs.withdrawal_memory([_spec("other", 3, 6)]) == DEFAULT_DEDUP_WINDOW
    assert jobs.withdrawal_memory() >= timedelta(days=11)  # deploy/topics.toml as declared today


def test_a_request_and_its_withdrawal_handled_at_once_by_two_consumers_never_leave_a_live_referral(
        make_harness, postgres_url):
    """A group rebalancing can briefly have two consumers on one partition (PostgreSQL: they really overlap)."""
    h = make_harness(postgres_url)
    h.add_service()
    # The withdrawal is in flight (remembering the request) when the request comes: it waits, then is refused.
    late = request_data()
    _while_held(h, ("adjustments.referral.consent_withdrawn", withdrawal(late)),
                ("adjustments.referral.requested", late))
    with h.ctx.database.transaction() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Referral)) == 0
    # The request is in flight when its withdrawal comes: the withdrawal waits, then cancels the referral.
    on_time = request_data(person={**request_data()["person"], "nhs_number": "4010232137"})
    _while_held(h, ("adjustments.referral.requested", on_time),
                ("adjustments.referral.consent_withdrawn", withdrawal(on_time)))
    referral = referral_for(h, on_time)
    assert (referral.status, referral.status_reason) == ("cancelled", "consent_withdrawn")
