"""Handlers on real Kafka: adjustments' consented requests become referrals, directory events feed routing,
and lifecycle events leave through the outbox carrying ids and codes only."""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from datetime import datetime, timezone

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from worklink.config import KafkaSettings
from worklink.events.catalogue import Catalogue
from worklink.events.contracts import CATALOGUE
from worklink.events.envelope import kafka_headers
from worklink.messaging import kafka
from worklink.messaging.consumer import EventConsumer, Outcome
from worklink.messaging.outbox import OutboxRelay
from worklink.messaging.topics import ensure_topics, load_topics
from worklink_referrals import events
from worklink_referrals.models import PLATFORM, Referral
from tests.services.referrals.conftest import ADVISERS, OTHER_ADVISERS

pytestmark = pytest.mark.timeout(300)


@pytest.fixture()
def rig(kafka_broker, new_topic):
    """A consumer of the referrals HANDLERS reading per-test topics, and a way to publish to them."""
    settings = KafkaSettings(kafka_broker.bootstrap_servers)
    topics = {t: new_topic() for t in {CATALOGUE.latest(name).topic for name in events.HANDLERS}}
    catalogue = Catalogue([dataclasses.replace(e, topic=topics.get(e.topic, e.topic)) for e in CATALOGUE])
    ensure_topics(settings, [s for s in load_topics() if s.name.startswith("referrals.")])

    class Rig:
        def publish(self, event_type: str, data: dict) -> str:
            event, entry = catalogue.build(event_type, data, source="urn:worklink:test")
            producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
            producer.send(entry.topic, key=str(event.data[entry.key]).encode(), value=event.to_json().encode(),
                          headers=kafka_headers(None, "corr-test")).get(30)
            producer.close()
            return event.id

        def resend_raw(self, event_type: str, raw: str) -> None:
            producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
            producer.send(catalogue.latest(event_type).topic, value=raw.encode()).get(30)
            producer.close()

        def consumer(self, database) -> EventConsumer:
            group = f"test.referrals.{uuid.uuid4().hex[:8]}"
            return EventConsumer(
                group_id=group, database=database, tables=PLATFORM, catalogue=catalogue, handlers=events.HANDLERS,
                consumer_factory=lambda: kafka.consumer(settings, group, "test", session_timeout_ms=6000,
                                                        heartbeat_interval_ms=1000),
                producer_factory=lambda: kafka.producer(settings, "test-dlt"), backoff_base=0.05)

        def relay(self, database) -> OutboxRelay:
            return OutboxRelay("referrals", database, PLATFORM, lambda: kafka.producer(settings, "test-relay"))

    return Rig()


def consume(consumer: EventConsumer, wanted: int, timeout: float = 60) -> list[Outcome]:
    outcomes: list[Outcome] = []
    deadline = time.monotonic() + timeout
    while len(outcomes) < wanted:
        assert time.monotonic() < deadline, f"only {outcomes} after {timeout}s"
        outcomes += consumer.poll_once(timeout_ms=500)
    return outcomes


def events_about(bootstrap: str, topic: str, referral_id, expected: int, timeout: float = 60) -> list:
    """Records on `topic` whose data names this referral (other tests share the topic)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                             auto_offset_reset="earliest")
    partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    found, deadline = [], time.monotonic() + timeout
    try:
        while len(found) < expected and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                found += [r for r in batch if json.loads(r.value)["data"].get("referral_id") == str(referral_id)]
        for batch in consumer.poll(timeout_ms=1000).values():  # and nothing more than expected
            found += [r for r in batch if json.loads(r.value)["data"].get("referral_id") == str(referral_id)]
    finally:
        consumer.close()
    return found


def request_data(**overrides) -> dict:
    data = {
        "request_id": uuid.uuid4(), "suggestion_id": uuid.uuid4(), "practice_id": uuid.UUID(ADVISERS[:-4] + "a001"),
        "clinician_id": "gp-clinician-7", "consent_id": uuid.uuid4(),
        "consented_at": datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc), "outcomes_to_gp": True,
        "person": {"nhs_number": "9434765919", "given_name": "Ada", "family_name": "Lovelace",
                   "birth_date": "1985-12-10", "postcode": "GL1 2AB", "phone": "01452000000"},
        "fit_note_decision": "may_be_fit", "adjustment_categories": ["altered_hours", "amended_duties"],
    }
    data.update(overrides)
    return data


def service_published(service_id, org, when="2026-11-20T09:00:00Z") -> dict:
    return {"service_id": service_id, "organization_id": org, "taxonomy_term_ids": [uuid.uuid4()],
            "published_at": when}


def test_an_adjustment_request_becomes_a_referral_and_its_events_go_out_on_kafka(make_harness, database_url, rig,
                                                                                kafka_broker):
    h = make_harness(database_url)
    consumer = rig.consumer(h.ctx.database)
    service_id = uuid.uuid4()
    data = request_data()
    try:
        rig.publish("directory.service.published", service_published(service_id, ADVISERS))
        assert consume(consumer, 1) == [Outcome.HANDLED]  # topics are not ordered with each other
        rig.publish("adjustments.referral.requested", data)
        # The same request again under a new event id (a producer retry) must not double the referral.
        rig.publish("adjustments.referral.requested", data)
        assert consume(consumer, 2) == [Outcome.HANDLED] * 2
    finally:
        consumer.close()

    with h.ctx.database.transaction() as session:
        referrals = session.query(Referral).all()
        assert len(referrals) == 1
        referral = referrals[0]
        assert referral.request_id == data["request_id"] and referral.source == "adjustments"
        assert referral.service_id == service_id and referral.assigned_org_id == ADVISERS
        assert referral.fit_note_decision == "may_be_fit"
        assert referral.adjustment_categories == ["altered_hours", "amended_duties"]
        assert referral.consent_id == data["consent_id"] and referral.consent_method == "clinician_recorded"
        assert referral.outcomes_to_referrer is True
        rid = referral.id
    body = h.client.get(f"/referrals/{rid}", headers=h.adviser()).get_json()
    assert body["adjustment"]["categories"] == ["altered_hours", "amended_duties"]
    assert h.act(rid, "accept", adviser_id="adviser-1").status_code == 200

    relay = rig.relay(h.ctx.database)
    try:
        assert relay.publish_pending().published >= 4
    finally:
        relay.close()
    records = events_about(kafka_broker.bootstrap_servers, "referrals.referral", rid, 4)
    assert {r.key for r in records} == {str(rid).encode()}
    mine = [json.loads(r.value) for r in records]
    assert [e["type"] for e in mine] == ["referrals.referral.submitted", "referrals.referral.received",
                                         "referrals.referral.accepted", "referrals.referral.allocated"]
    assert mine[0]["data"]["request_id"] == str(data["request_id"])
    raw = json.dumps(mine)
    for secret in ("Lovelace", "9434765919", "GL1", "01452000000", "1985-12-10"):
        assert secret not in raw


def test_directory_events_feed_the_routing_read_model(make_harness, rig):
    h = make_harness()
    consumer = rig.consumer(h.ctx.database)
    first, second = uuid.uuid4(), uuid.uuid4()
    try:
        rig.publish("directory.service.published", service_published(first, ADVISERS))
        rig.publish("directory.service.withdrawn", {"service_id": second, "organization_id": OTHER_ADVISERS,
                                                    "reason": "closed", "withdrawn_at": "2026-11-20T09:00:00Z"})
        # An older publication arriving after the withdrawal must not reopen the service.
        rig.publish("directory.service.published", service_published(second, OTHER_ADVISERS, "2026-11-19T09:00:00Z"))
        consume(consumer, 3)
        assert h.refer(service_id=str(first)).get_json()["assigned_org_id"] == ADVISERS
        held = h.refer({"nhs_number": "7777777777", "given_name": "Tom"}, service_id=str(second)).get_json()
        assert held["routing"] == "held"

        unclaimed = h.refer({"nhs_number": "6666666666", "given_name": "Una"}).get_json()
        assert unclaimed["assigned_org_id"] == ADVISERS
        rig.publish("directory.service.withdrawn", {"service_id": first, "organization_id": ADVISERS,
                                                    "reason": "closed", "withdrawn_at": "2026-11-21T09:00:00Z"})
        consume(consumer, 1)
        assert h.refer({"nhs_number": "8888888888", "given_name": "Ann"}).get_json()["routing"] == "held"
        # Never acknowledged by the withdrawn service: held again, not stranded with that organisation.
        again = h.client.get(f"/referrals/{unclaimed['id']}", headers=h.admin()).get_json()
        assert again["routing"] == "held" and again["assigned_org_id"] is None
        assert h.client.get(f"/referrals/{unclaimed['id']}", headers=h.adviser()).status_code == 404

        # The service reopens (a newer publication): held referrals for it are routed automatically.
        rig.publish("directory.service.published", service_published(second, OTHER_ADVISERS, "2026-11-22T09:00:00Z"))
        consume(consumer, 1)
    finally:
        consumer.close()
    routed = h.client.get(f"/referrals/{held['id']}", headers=h.admin()).get_json()
    assert routed["routing"] == "routed" and routed["assigned_org_id"] == OTHER_ADVISERS
    # Una's consent named no service, so the reopened service takes her referral too.
    una = h.client.get(f"/referrals/{unclaimed['id']}", headers=h.admin()).get_json()
    assert una["assigned_org_id"] == OTHER_ADVISERS


def test_a_malformed_request_is_dead_lettered_not_half_applied(make_harness, rig):
    h = make_harness()
    consumer = rig.consumer(h.ctx.database)
    event, _ = CATALOGUE.build("adjustments.referral.requested", request_data(), source="urn:worklink:test")
    broken = json.loads(event.to_json())
    del broken["data"]["consent_id"]  # no consent: must never become a referral
    rig.resend_raw("adjustments.referral.requested", json.dumps(broken))
    try:
        assert consume(consumer, 1) == [Outcome.DEAD_LETTERED]
    finally:
        consumer.close()
    with h.ctx.database.transaction() as session:
        assert session.query(Referral).count() == 0


def test_every_published_type_is_declared_and_broadcasts_only_ids_and_codes():
    from worklink.events.catalogue import broadcast_violations

    for event_type in events.PUBLISHES:
        entry = CATALOGUE.latest(event_type)
        assert entry.restricted == (event_type == "notifications.person_message.requested"), event_type
        assert broadcast_violations(entry) == []
    assert set(events.HANDLERS) == {"adjustments.referral.requested", "directory.service.published",
                                    "directory.service.updated", "directory.service.withdrawn"}
