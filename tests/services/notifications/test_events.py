"""Events in from real Kafka: routing for every event type, duplicates, skips, dead letters."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from worklink.events.contracts.platform import SESSION_EVENT_TYPES
from worklink.events.envelope import CloudEvent
from worklink.messaging.consumer import Outcome
from worklink.pseudonyms import clinician_reference
from worklink_notifications.events import HANDLERS, PERSON_MESSAGE, PERSON_MESSAGES_REVOKED, routed_types
from worklink_notifications.messages import DEFAULT_RULES, code_for
from worklink_notifications.models import Delivery, OrganisationContact, RoutingRule, ServiceIntake, WebhookSubscriber
from tests.platform import support as platform
from tests.services.notifications.support import (build_event, catalogue_on, consume, make_consumer,
                                                  make_worker, send)

pytestmark = pytest.mark.timeout(300)

REFERRER, ASSIGNED, OWNER = (str(uuid.uuid4()) for _ in range(3))
CLINICIAN = uuid.uuid4().hex * 2  # a clinician reference (64 hex digits), all v2 of an employer answer takes
SERVICE = uuid.uuid4()


def expected_inbox(audience: str) -> tuple[str, str]:
    return {"referrer_org": ("organisation", REFERRER), "assigned_org": ("organisation", ASSIGNED),
            "assigned_org_lead": ("organisation", ASSIGNED), "service_owner": ("organisation", OWNER),
            "alliance": ("alliance", "alliance"), "clinician": ("user", CLINICIAN),
            "practice": ("organisation", OWNER)}[audience]


def ids_for(catalogue, event_type: str) -> dict:
    known = {"referrer_org_id": REFERRER, "assigned_org_id": ASSIGNED, "organization_id": OWNER,
             "practice_id": OWNER, "service_id": SERVICE, "clinician_id": CLINICIAN}
    schema_fields = catalogue.latest(event_type).schema().fields
    return {name: value for name, value in known.items() if name in schema_fields}


def deliveries(database, *where) -> list[Delivery]:
    with database.sessions() as session:
        return list(session.scalars(sa.select(Delivery).where(*where)))


def register_addresses(database) -> None:
    with database.transaction() as session:
        session.add_all([
            OrganisationContact(organisation_id=ASSIGNED, purpose="team", email="team@advisers.example"),
            OrganisationContact(organisation_id=ASSIGNED, purpose="lead", email="lead@advisers.example"),
            WebhookSubscriber(organisation_id=REFERRER, url="http://127.0.0.1:9/hook", secret="whsec_AAAA"),
        ])


def test_every_consumed_type_has_a_routing_rule():
    routed = set(routed_types())
    ruled = {event_type for event_type, *_ in DEFAULT_RULES}
    assert routed - ruled == set(), "add a routing-rule migration in notifications for these types"
    assert set(HANDLERS) == routed | {PERSON_MESSAGE, PERSON_MESSAGES_REVOKED, *SESSION_EVENT_TYPES}


def test_every_event_type_reaches_its_audience_once_even_when_redelivered(notifications_db, kafka_broker, new_topic):
    topic, bootstrap = new_topic(), kafka_broker.bootstrap_servers
    catalogue = catalogue_on(topic)
    register_addresses(notifications_db)
    events = {t: build_event(catalogue, t, **ids_for(catalogue, t)) for t in routed_types()}
    capacity = events["referrals.capacity.changed"].data
    with notifications_db.transaction() as session:  # heard before, taking referrals or not: this summary flips it
        session.add(ServiceIntake(service_id=uuid.UUID(capacity["service_id"]),
                                  recorded_at=datetime(2026, 1, 1, tzinfo=timezone.utc),
                                  accepting_referrals=not capacity["accepting_referrals"]))
    unknown = CloudEvent(type="referrals.referral.teleported", source="urn:worklink:test", data={"x": 1},
                         dataschema="urn:worklink:event:referrals.referral.teleported:v1")
    first = events["referrals.referral.accepted"]
    send(bootstrap, topic, *(e.to_json().encode() for e in events.values()), unknown.to_json().encode(),
         first.to_json().encode())  # a redelivery of an event already handled

    consumer = make_consumer(notifications_db, bootstrap, catalogue)
    try:
        outcomes = consume(consumer, len(events) + 2)
    finally:
        consumer.close()
    assert outcomes.count(Outcome.HANDLED) == len(events)
    assert outcomes[-2:] == [Outcome.SKIPPED, Outcome.DUPLICATE]

    for event_type, audience, channels, message_code in DEFAULT_RULES:
        if event_type not in events:
            continue
        kind, recipient = expected_inbox(audience)
        inbox = deliveries(notifications_db, Delivery.event_id == events[event_type].id, Delivery.channel == "inbox",
                           Delivery.recipient_kind == kind, Delivery.recipient_id == recipient)
        expected = code_for(message_code, events[event_type].data)  # a capacity change: intake paused or resumed
        assert [d.message_code for d in inbox] == [expected], (event_type, audience)

    # Email to the right contact (a lead hears of SLA breaches, the team of new referrals) ...
    breach = deliveries(notifications_db, Delivery.event_id == events["referrals.referral.sla_breached"].id,
                        Delivery.channel == "email")
    assert [(d.address, d.status) for d in breach] == [("lead@advisers.example", "pending")]
    submitted = deliveries(notifications_db, Delivery.event_id == events["referrals.referral.submitted"].id,
                           Delivery.channel == "email")
    assert [d.address for d in submitted] == ["team@advisers.example"]
    # ... webhooks to the referrer's partner system, and only ids and codes in any delivery.
    accepted = deliveries(notifications_db, Delivery.event_id == first.id)
    assert sorted(d.channel for d in accepted) == ["inbox", "webhook"]  # once each, despite the redelivery
    assert set(accepted[0].facts) <= {"referral_id", "service_id", "status", "reason", "request_id",
                                      "suggestion_id", "organization_id"}


def test_rules_are_data_a_disabled_rule_tells_no_one(sqlite_db, kafka_broker, new_topic):
    topic, bootstrap = new_topic(), kafka_broker.bootstrap_servers
    catalogue = catalogue_on(topic)
    with sqlite_db.transaction() as session:
        session.execute(sa.update(RoutingRule).where(RoutingRule.event_type == "referrals.referral.rejected")
                        .values(enabled=False))
    rejected = build_event(catalogue, "referrals.referral.rejected", **ids_for(catalogue, "referrals.referral.rejected"))
    completed = build_event(catalogue, "referrals.referral.completed",
                            **ids_for(catalogue, "referrals.referral.completed"))
    send(bootstrap, topic, rejected.to_json().encode(), completed.to_json().encode())
    consumer = make_consumer(sqlite_db, bootstrap, catalogue)
    try:
        assert consume(consumer, 2) == [Outcome.HANDLED, Outcome.HANDLED]
    finally:
        consumer.close()
    assert deliveries(sqlite_db, Delivery.event_id == rejected.id) == []
    assert [d.recipient_id for d in deliveries(sqlite_db, Delivery.event_id == completed.id)] == [REFERRER]


def test_malformed_events_and_unknown_resident_messages_go_to_the_dead_letter_topic(
        sqlite_db, kafka_broker, new_topic):
    topic, bootstrap = new_topic(), kafka_broker.bootstrap_servers
    catalogue = catalogue_on(topic)
    broken = b'{"specversion": "1.0", "id": '
    invalid = build_event(catalogue, "referrals.referral.submitted").to_dict()
    invalid["data"]["referral_id"] = "not-a-uuid"
    unknown_code = build_event(catalogue, PERSON_MESSAGE, message_code="tell_them_everything")
    good = build_event(catalogue, "referrals.referral.submitted", **ids_for(catalogue, "referrals.referral.submitted"))
    send(bootstrap, topic, broken, CloudEvent.from_dict(invalid).to_json().encode(),
         unknown_code.to_json().encode(), good.to_json().encode())

    consumer = make_consumer(sqlite_db, bootstrap, catalogue)
    try:
        outcomes = consume(consumer, 4)
    finally:
        consumer.close()
    assert outcomes == [Outcome.DEAD_LETTERED] * 3 + [Outcome.HANDLED]
    dead = platform.read_topic(bootstrap, topic + ".dlt", expected=3)
    assert [dict(r.headers)["dlt-reason"] for r in dead] == [b"malformed", b"schema-invalid", b"rejected"]
    assert len(deliveries(sqlite_db, Delivery.event_id == good.id)) == 1
    assert deliveries(sqlite_db, Delivery.recipient_kind == "person") == []


def test_a_resident_message_is_sent_once_per_message_id(sqlite_db, kafka_broker, new_topic):
    topic, bootstrap = new_topic(), kafka_broker.bootstrap_servers
    catalogue = catalogue_on(topic)
    message_id, person_id = uuid.uuid4(), uuid.uuid4()
    first = build_event(catalogue, PERSON_MESSAGE, message_id=message_id, person_id=person_id,
                        message_code="referral_accepted",
                        contact={"channel": "email", "address": "sam@example.org"})
    again = build_event(catalogue, PERSON_MESSAGE, message_id=message_id, person_id=person_id,
                        message_code="referral_accepted",
                        contact={"channel": "email", "address": "sam@example.org"})  # re-published: new event id
    send(bootstrap, topic, first.to_json().encode(), again.to_json().encode())
    consumer = make_consumer(sqlite_db, bootstrap, catalogue)
    try:
        assert consume(consumer, 2) == [Outcome.HANDLED, Outcome.HANDLED]
    finally:
        consumer.close()
    sent = deliveries(sqlite_db, Delivery.recipient_kind == "person")
    assert [(d.channel, d.address, d.status, d.event_id) for d in sent] == [
        ("email", "sam@example.org", "pending", f"message:{message_id}")]


def test_a_residents_message_or_withdrawal_on_a_broadcast_topic_is_ignored(sqlite_db, kafka_broker, new_topic,
                                                                           caplog):
    """Only the services holding consent may write the restricted topic (Kafka ACLs); the same types on a
    broadcast topic we read - its publisher's, or the operator's re-drive - would e-mail anyone, or stop a
    resident's messages. Believed only from their own topic; never dead-lettered (a broadcast DLT)."""
    import dataclasses

    from worklink.events.catalogue import Catalogue
    from worklink.events.contracts import CATALOGUE

    restricted, broadcast, bootstrap = new_topic(), new_topic(), kafka_broker.bootstrap_servers
    catalogue = Catalogue([dataclasses.replace(e, topic=restricted if e.restricted else broadcast) for e in CATALOGUE])
    consent = uuid.uuid4()
    genuine = build_event(catalogue, PERSON_MESSAGE, consent_id=consent, message_code="referral_accepted",
                          contact={"channel": "email", "address": "sam@example.org"})
    forged = build_event(catalogue, PERSON_MESSAGE, message_code="referral_accepted",
                         contact={"channel": "email", "address": "anyone@example.net"})
    withdrawal = build_event(catalogue, PERSON_MESSAGES_REVOKED, consent_id=consent)
    send(bootstrap, restricted, genuine.to_json().encode())
    send(bootstrap, broadcast, forged.to_json().encode(), withdrawal.to_json().encode())
    consumer = make_consumer(sqlite_db, bootstrap, catalogue)
    try:
        assert sorted(consume(consumer, 3), key=str) == [Outcome.HANDLED] * 3  # nothing dead-lettered
    finally:
        consumer.close()
    sent = deliveries(sqlite_db, Delivery.recipient_kind == "person")
    assert [(d.address, d.status) for d in sent] == [("sam@example.org", "pending")]  # and not withdrawn
    ignored = [r for r in caplog.records if r.getMessage() == "restricted event on a topic not its own: ignored"]
    assert sorted(r.event_type for r in ignored) == [PERSON_MESSAGE, PERSON_MESSAGES_REVOKED]
    assert all(r.topic == broadcast for r in ignored) and "anyone@example.net" not in caplog.text


def test_a_failing_batch_is_handled_record_by_record_with_retries(sqlite_db, kafka_broker, new_topic):
    topic, bootstrap = new_topic(), kafka_broker.bootstrap_servers
    catalogue = catalogue_on(topic)
    events = [build_event(catalogue, "referrals.referral.accepted", **ids_for(catalogue, "referrals.referral.accepted"))
              for _ in range(3)]
    calls: list[str] = []

    def flaky(session, event):
        calls.append(event.id)
        if len(calls) <= 2:  # the batch fails, then the first record's first solo try
            raise ConnectionResetError("mail relay hung up")
        HANDLERS[event.type](session, event)

    send(bootstrap, topic, *(e.to_json().encode() for e in events))
    consumer = make_consumer(sqlite_db, bootstrap, catalogue, handlers={"referrals.referral.accepted": flaky})
    try:
        assert consume(consumer, 3) == [Outcome.HANDLED] * 3
    finally:
        consumer.close()
    assert len(deliveries(sqlite_db, Delivery.channel == "inbox")) == 3
    assert calls.count(events[0].id) == 3  # in the batch, failed solo, then succeeded


def test_an_employer_answer_reaches_the_clinician_it_names_by_reference(app, notifications_db, kafka_broker,
                                                                       new_topic, token, smtp_server, clock):
    """adjustments names the clinician by clinician_reference(sub, key), never by the login id (here an
    e-mail address); the clinician's own inbox and e-mail still get the answer, as the practice's does."""
    topic, bootstrap = new_topic(), kafka_broker.bootstrap_servers
    catalogue = catalogue_on(topic)
    client, ada = app.test_client(), "ada@practice.example"
    as_ada = token("gp", org=OWNER, sub=ada)
    assert client.put("/me/channels", json={"email": "ada.work@practice.example", "email_enabled": True},
                      headers=as_ada).status_code == 200
    reference = clinician_reference(ada, app.config["CLINICIAN_REFERENCE_KEY"])
    answer = build_event(catalogue, "adjustments.employer_response.recorded", practice_id=OWNER,
                         clinician_id=reference)
    assert ada not in answer.to_json()
    send(bootstrap, topic, answer.to_json().encode())
    consumer = make_consumer(notifications_db, bootstrap, catalogue)
    try:
        assert consume(consumer, 1) == [Outcome.HANDLED]
    finally:
        consumer.close()

    mine = client.get("/inbox", headers=as_ada).get_json()["items"]
    assert [(i["event_type"], i["message_code"]) for i in mine] == [
        ("adjustments.employer_response.recorded", "employer_response")]
    assert client.get("/inbox", headers=token("gp", org=OWNER, sub="bob@practice.example")).get_json()["items"] == []
    practice = client.get("/inbox?scope=organisation", headers=as_ada).get_json()["items"]
    assert [i["event_type"] for i in practice] == ["adjustments.employer_response.recorded"]
    make_worker(notifications_db, smtp_server, clock).run_once()
    assert len(smtp_server.to("ada.work@practice.example")) == 1
