"""Handlers on real Kafka: adjustments' consented requests become referrals, directory events feed routing,
and lifecycle events leave through the outbox carrying ids and codes only."""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from worklink.config import KafkaSettings
from worklink.events.catalogue import Catalogue
from worklink.events.contracts import CATALOGUE
from worklink.events.contracts.platform import SESSION_EVENT_TYPES
from worklink.events.envelope import kafka_headers
from worklink.messaging import kafka
from worklink.messaging.consumer import EventConsumer, Outcome
from worklink.messaging.outbox import OutboxRelay
from worklink.messaging.topics import ensure_topics, load_topics
from worklink_referrals import events
from worklink_referrals.models import PLATFORM, Referral, RoutingServiceArea, RoutingServiceTerm
from tests.services.referrals.conftest import ADVISERS, OTHER_ADVISERS, SERVICE, nhs_number
from tests.events import consume

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
    data = request_data(referrer={"name": "Dr Rosa Wu", "profession": "doctor", "organisation_name": "Riverside Surgery"})
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
        audit = PLATFORM.audit_log
        created = session.execute(sa.select(audit).where(audit.c.resource_id == str(rid))).all()
        assert [(a.action, a.actor, a.actor_role, a.actor_org) for a in created] == [
            ("create", "gp-clinician-7", "gp", str(data["practice_id"]))]
    body = h.client.get(f"/referrals/{rid}", headers=h.adviser()).get_json()
    assert body["adjustment"]["categories"] == ["altered_hours", "amended_duties"]
    assert body["referrer"] == {"role": "gp", "name": "Dr Rosa Wu", "profession": "doctor",
                                "organisation_name": "Riverside Surgery"}
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
        held = h.refer({"nhs_number": "7777777785", "given_name": "Tom"}, service_id=str(second)).get_json()
        assert held["routing"] == "held"

        unclaimed = h.refer({"nhs_number": "6666666674", "given_name": "Una"}).get_json()
        assert unclaimed["assigned_org_id"] == ADVISERS
        rig.publish("directory.service.withdrawn", {"service_id": first, "organization_id": ADVISERS,
                                                    "reason": "closed", "withdrawn_at": "2026-11-21T09:00:00Z"})
        consume(consumer, 1)
        assert h.refer({"nhs_number": "8888888896", "given_name": "Ann"}).get_json()["routing"] == "held"
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


def test_an_older_withdrawal_arriving_late_leaves_the_relisted_services_referrals_with_it(make_harness, rig):
    """A listing made inactive and then offered again: its withdrawal, re-driven from the DLT after the newer
    publication, changes nothing - the service stays open and the referral it took stays routed to it."""
    h = make_harness()
    consumer = rig.consumer(h.ctx.database)
    service = uuid.uuid4()
    try:
        rig.publish("directory.service.published", service_published(service, ADVISERS, "2026-11-22T09:00:00Z"))
        consume(consumer, 1)
        taken = h.refer(service_id=str(service)).get_json()
        assert (taken["routing"], taken["assigned_org_id"]) == ("routed", ADVISERS)
        rig.publish("directory.service.withdrawn", {"service_id": service, "organization_id": ADVISERS,
                                                    "reason": "inactive", "withdrawn_at": "2026-11-21T09:00:00Z"})
        consume(consumer, 1)
    finally:
        consumer.close()
    still = h.client.get(f"/referrals/{taken['id']}", headers=h.admin()).get_json()
    assert (still["routing"], still["assigned_org_id"], still["service_id"]) == ("routed", ADVISERS, str(service))
    assert [step["action"] for step in still["history"]] == [step["action"] for step in taken["history"]]
    again = h.refer({"nhs_number": "7777777785", "given_name": "Tom"}, service_id=str(service)).get_json()
    assert again["routing"] == "routed"  # the service is still open


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
        assert entry.restricted == event_type.startswith("notifications.person_message"), event_type
        assert broadcast_violations(entry) == []
    assert set(events.HANDLERS) == {"adjustments.referral.requested", "adjustments.referral.consent_withdrawn",
                                    "directory.service.published",
                                    "directory.service.updated", "directory.service.withdrawn",
                                    *SESSION_EVENT_TYPES}


def reach(service_id, org, when, *, event="published", areas=None, ages=(None, None), **more) -> dict:
    """A directory.service.published/updated payload with the reach fields the directory now sends."""
    data = {"service_id": service_id, "organization_id": org, "area_codes": areas,
            "minimum_age": ages[0], "maximum_age": ages[1], **more}
    if event == "published":
        return {"taxonomy_term_ids": [], "published_at": when, **data}
    return {"changed": ["service_area"], "updated_at": when, **data}


def test_routing_matches_the_area_and_the_age_the_directory_publishes(make_harness, database_url, rig):
    h = make_harness(database_url)  # the routing query differs on PostgreSQL (person locks in the same statement)
    consumer = rig.consumer(h.ctx.database)
    young, anyone_older, cheltenham = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    term, later_term = uuid.uuid4(), uuid.uuid4()

    def person(n, born, postcode="GL1 2AB"):
        return {"nhs_number": nhs_number(n), "given_name": f"P{n}", "birth_date": born, "postcode": postcode}

    try:
        rig.publish("directory.service.published", reach(young, ADVISERS, "2026-11-20T09:00:00Z", areas=["GL1"],
                                                         ages=(18, 64), taxonomy_term_ids=[term]))
        rig.publish("directory.service.published", reach(anyone_older, OTHER_ADVISERS, "2026-11-20T09:00:00Z",
                                                         ages=(50, None)))
        rig.publish("directory.service.published", reach(cheltenham, ADVISERS, "2026-11-20T09:00:00Z",
                                                         areas=["GL50", "GL51"]))
        assert consume(consumer, 3) == [Outcome.HANDLED] * 3

        # The clock says 2026-11-23: ages on the day of referral.
        assert h.refer(person(1, "1986-01-01")).get_json()["service_id"] == str(young)  # 40, GL1
        assert h.refer(person(2, "1956-01-01")).get_json()["service_id"] == str(anyone_older)  # 70: over 64
        assert h.refer(person(3, "1986-01-01", "GL50 1AA")).get_json()["service_id"] == str(cheltenham)
        turns_18_tomorrow = h.refer(person(4, "2008-11-24")).get_json()  # 17 today: nothing serves them
        assert turns_18_tomorrow["routing"] == "held" and turns_18_tomorrow["service_id"] is None
        assert h.refer(person(5, "1986-01-01", "BS1 1AA")).get_json()["routing"] == "held"  # outside every area

        # The listing widens its reach: the held 17-year-old is routed to it without anyone asking.
        rig.publish("directory.service.updated", reach(young, ADVISERS, "2026-11-21T09:00:00Z",
                                                       event="updated", areas=["GL1", "BS1"], ages=(16, 64)))
        # An older update arriving late must not narrow it back (out-of-order guard) ...
        rig.publish("directory.service.updated", reach(young, ADVISERS, "2026-11-20T12:00:00Z",
                                                       event="updated", areas=["GL9"], ages=(30, 40)))
        # ... and an update that sends terms replaces them; one that sends none keeps them.
        rig.publish("directory.service.updated", reach(anyone_older, OTHER_ADVISERS, "2026-11-21T09:00:00Z",
                                                       event="updated", ages=(50, None),
                                                       taxonomy_term_ids=[later_term]))
        rig.publish("directory.service.updated", reach(young, ADVISERS, "2026-11-22T09:00:00Z",
                                                       event="updated", areas=["GL1", "BS1"], ages=(16, 64)))
        assert consume(consumer, 4) == [Outcome.HANDLED] * 4
    finally:
        consumer.close()

    routed = h.client.get(f"/referrals/{turns_18_tomorrow['id']}", headers=h.admin()).get_json()
    assert routed["routing"] == "routed" and routed["service_id"] == str(young)
    assert h.refer(person(6, "1996-01-01", "BS1 1AA")).get_json()["service_id"] == str(young)  # 30, BS1 now
    assert h.refer(person(7, "2011-01-01")).get_json()["routing"] == "held"  # 15: still under 16
    with h.ctx.database.transaction() as session:
        terms = {(s, t) for s, t in session.execute(sa.select(RoutingServiceTerm.service_id,
                                                                  RoutingServiceTerm.term_id))}
        areas = set(session.scalars(sa.select(RoutingServiceArea.area_code)
                                    .where(RoutingServiceArea.service_id == young)))
    assert terms == {(young, term), (anyone_older, later_term)}
    assert areas == {"GL1", "BS1"}


def test_a_gp_patient_who_agreed_hears_how_their_referral_goes(make_harness, rig):
    """adjustments.referral.requested with updates_by_email: taken in (with the private link), accepted (the
    adviser named with it is no second message) and closed reach the person's email as coded person
    messages naming the service; without it (the default) nothing is sent to them."""
    h = make_harness()
    h.add_service()
    consumer = rig.consumer(h.ctx.database)
    told = request_data(updates_by_email=True, person={
        "nhs_number": "9434765919", "given_name": "Ada", "family_name": "Lovelace", "birth_date": "1985-12-10",
        "postcode": "GL1 2AB", "email": "ada@example.org"})
    not_told = request_data(person={**told["person"], "nhs_number": "4010232137", "given_name": "Bea",
                                    "email": "bea@example.org"})
    try:
        rig.publish("adjustments.referral.requested", told)
        rig.publish("adjustments.referral.requested", not_told)
        assert consume(consumer, 2) == [Outcome.HANDLED] * 2
    finally:
        consumer.close()
    with h.ctx.database.transaction() as session:
        ids = {r.given_name: r.id for r in session.query(Referral)}
    for rid in ids.values():
        assert h.act(rid, "accept", adviser_id="adviser-1").status_code == 200
        assert h.act(rid, "make_first_contact", channel="phone").status_code == 200
        assert h.act(rid, "cancel", headers=h.admin(), reason="person_withdrew").status_code == 200

    with h.ctx.database.transaction() as session:
        rows = session.execute(sa.select(PLATFORM.outbox.c.payload).where(
            PLATFORM.outbox.c.type == "notifications.person_message.requested")).scalars().all()
    messages = [json.loads(p)["data"] for p in rows]
    assert [(m["message_code"], m["contact"]["address"], m["referral_id"]) for m in messages] == [
        ("referral_received", "ada@example.org", str(ids["Ada"])),
        ("referral_accepted", "ada@example.org", str(ids["Ada"])),
        ("referral_closed", "ada@example.org", str(ids["Ada"]))]
    assert [bool(m.get("status_link")) for m in messages] == [True, False, False]
    assert {m["service_id"] for m in messages} == {str(SERVICE)}
    assert {m["consent_id"] for m in messages} == {str(told["consent_id"])}  # the clinician-recorded consent
    detail = h.client.get(f"/referrals/{ids['Ada']}", headers=h.adviser()).get_json()
    assert detail["consent"]["updates_by_email"] is True


def test_a_new_consent_whose_request_overtakes_the_old_withdrawal_on_kafka_is_the_one_live_referral(make_harness,
                                                                                                   rig):
    """The patient withdrew, then consented again: the withdrawal travels on the old request's key,
    the new request on its own (another partition), so the consumer can handle the new one first."""
    h = make_harness()
    h.add_service()
    first, second = request_data(), request_data()
    consumer = rig.consumer(h.ctx.database)
    try:
        rig.publish("adjustments.referral.requested", first)
        assert consume(consumer, 1) == [Outcome.HANDLED]
        rig.publish("adjustments.referral.requested", second)
        assert consume(consumer, 1) == [Outcome.HANDLED]
        rig.publish("adjustments.referral.consent_withdrawn", {
            "request_id": first["request_id"], "suggestion_id": first["suggestion_id"],
            "practice_id": first["practice_id"], "consent_id": first["consent_id"], "recorded_by": "gp-clinician-7",
            "withdrawn_at": datetime.now(timezone.utc)})
        assert consume(consumer, 1) == [Outcome.HANDLED]
    finally:
        consumer.close()
    with h.ctx.database.transaction() as session:
        by_request = {r.request_id: r for r in session.scalars(sa.select(Referral))}
        old, new = by_request[first["request_id"]], by_request[second["request_id"]]
        assert (old.status, old.status_reason) == ("cancelled", "consent_withdrawn")
        assert (new.status, new.duplicate_of_id, new.duplicate_reason) == ("submitted", None, None)
        assert [t.action for t in new.transitions] == ["submit", "unlink_duplicate"]  # it had been linked
