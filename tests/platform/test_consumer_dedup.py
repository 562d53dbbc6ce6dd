"""Consumers deduplicate by CloudEvents source and id together (an event is unique by both), on
real Kafka with SQLite and PostgreSQL: two producers may pick the same id and neither event is
lost, while a redelivery is still handled once. Rows written before the key named the source
(the bare id) still count, so an upgrade handles nothing twice."""

from __future__ import annotations

import dataclasses
import uuid

import pytest
import sqlalchemy as sa

from worklink.db import utcnow
from worklink.events.envelope import CloudEvent
from worklink.messaging.consumer import Outcome, dedup_key
from tests.events import consume
from tests.platform import support
from tests.platform.test_consumer import record_effect, send, thing_event
from tests.services.notifications.support import notifications_db  # noqa: F401 - a fixture

pytestmark = pytest.mark.timeout(300)


def from_source(event: CloudEvent, source: str) -> CloudEvent:
    return dataclasses.replace(event, source=source)


def processed_rows(database) -> set[tuple[str, str]]:
    processed = support.TABLES.processed_events
    with database.sessions() as session:
        return {(key, kind) for key, kind in session.execute(sa.select(processed.c.event_id, processed.c.event_type))}


def remember_as_before_the_upgrade(database, group: str, event_id: str, event_type: str) -> None:
    """A row as consumers wrote it while they deduplicated by id alone."""
    with database.transaction() as session:
        session.execute(support.TABLES.processed_events.insert().values(
            consumer=group, event_id=event_id, event_type=event_type, processed_at=utcnow()))


def test_the_same_id_from_two_sources_is_two_events_and_a_redelivery_one(database_url, kafka_broker, new_topic):
    topic, group = new_topic(), f"g-{uuid.uuid4().hex}"
    database = support.make_database(database_url)
    first = thing_event(topic, seq=1)
    other = from_source(thing_event(topic, seq=2), "urn:worklink:elsewhere")
    other = dataclasses.replace(other, id=first.id)  # another producer picked the same id
    send(kafka_broker.bootstrap_servers, topic, first.to_json().encode(), other.to_json().encode(),
         first.to_json().encode())  # and the first is redelivered

    consumer = support.make_consumer(database, kafka_broker.bootstrap_servers, topic, group, record_effect)
    try:
        assert consume(consumer, 3) == [Outcome.HANDLED, Outcome.HANDLED, Outcome.DUPLICATE]
    finally:
        consumer.close()
    with database.sessions() as session:
        assert sorted(session.execute(sa.select(support.effects.c.seq)).scalars()) == [1, 2]
    assert processed_rows(database) == {(dedup_key(first.source, first.id), first.type),
                                        (dedup_key(other.source, other.id), other.type)}


def test_ids_processed_before_the_upgrade_are_still_duplicates(database_url, kafka_broker, new_topic):
    """Old rows hold the bare id; with its type they still name the event (one publisher sends a
    type), so a redelivery after the upgrade has no second effect. A bare id recorded for another
    type is another event."""
    topic, group = new_topic(), f"g-{uuid.uuid4().hex}"
    database = support.make_database(database_url)
    handled_before, unrelated = thing_event(topic, seq=1), thing_event(topic, seq=2)
    remember_as_before_the_upgrade(database, group, handled_before.id, handled_before.type)
    remember_as_before_the_upgrade(database, group, unrelated.id, "elsewhere.other.happened")
    send(kafka_broker.bootstrap_servers, topic, handled_before.to_json().encode(), unrelated.to_json().encode(),
         unrelated.to_json().encode())

    consumer = support.make_consumer(database, kafka_broker.bootstrap_servers, topic, group, record_effect)
    try:
        assert consume(consumer, 3) == [Outcome.DUPLICATE, Outcome.HANDLED, Outcome.DUPLICATE]
    finally:
        consumer.close()
    with database.sessions() as session:
        assert list(session.execute(sa.select(support.effects.c.seq)).scalars()) == [2]


def test_the_notifications_batch_consumer_keys_by_source_and_id_too(notifications_db, kafka_broker, new_topic):
    """Its own one-transaction-per-poll path: both same-id events routed, the redelivery and an
    event it recorded before the upgrade not."""
    from worklink_notifications.models import Delivery
    from tests.services.notifications.support import build_event, catalogue_on, make_consumer

    topic, bootstrap = new_topic(), kafka_broker.bootstrap_servers
    catalogue = catalogue_on(topic)
    referrers = [str(uuid.uuid4()) for _ in range(3)]
    first, other, old = (build_event(catalogue, "referrals.referral.accepted", referrer_org_id=org)
                         for org in referrers)
    other = dataclasses.replace(from_source(other, "urn:worklink:elsewhere"), id=first.id)
    consumer = make_consumer(notifications_db, bootstrap, catalogue)
    remember_as_before_the_upgrade(notifications_db, consumer.group_id, old.id, old.type)
    send(bootstrap, topic, *(e.to_json().encode() for e in (first, other, first, old)))
    try:
        assert consume(consumer, 4) == [Outcome.HANDLED, Outcome.HANDLED, Outcome.DUPLICATE, Outcome.DUPLICATE]
    finally:
        consumer.close()
    with notifications_db.sessions() as session:
        told = set(session.scalars(sa.select(Delivery.recipient_id).where(Delivery.recipient_kind == "organisation")))
    assert told == set(referrers[:2])


@pytest.mark.parametrize("batches", [1, 2])
def test_two_producers_same_id_events_each_reach_the_same_recipient(notifications_db, kafka_broker, new_topic,
                                                                    batches):
    """A delivery is unique by the event's source and id too: the same organisation told of both events,
    whether they arrive in one poll or two (the second a unique-key failure, dead-lettered, before)."""
    from worklink_notifications.models import Delivery
    from tests.services.notifications.support import build_event, catalogue_on, make_consumer

    topic, bootstrap = new_topic(), kafka_broker.bootstrap_servers
    catalogue = catalogue_on(topic)
    referrer = str(uuid.uuid4())
    first = build_event(catalogue, "referrals.referral.accepted", referrer_org_id=referrer)
    other = dataclasses.replace(from_source(build_event(catalogue, "referrals.referral.accepted",
                                                        referrer_org_id=referrer), "urn:worklink:elsewhere"),
                                id=first.id)
    consumer = make_consumer(notifications_db, bootstrap, catalogue)
    try:
        if batches == 1:
            send(bootstrap, topic, first.to_json().encode(), other.to_json().encode())
            assert consume(consumer, 2) == [Outcome.HANDLED, Outcome.HANDLED]
        else:
            for event in (first, other):
                send(bootstrap, topic, event.to_json().encode())
                assert consume(consumer, 1) == [Outcome.HANDLED]
    finally:
        consumer.close()
    with notifications_db.sessions() as session:
        told = session.execute(sa.select(Delivery.event_source, Delivery.channel).where(
            Delivery.event_id == first.id, Delivery.recipient_id == referrer)).all()
    sources = sorted({source for source, _ in told})
    assert sources == sorted({first.source, "urn:worklink:elsewhere"})
    assert len(told) == 2 * len({channel for _, channel in told})  # every channel, once per event
