"""The notifications batch consumer under a busy SQLite database (what a soak of `worklink up` showed): another
writer - the delivery worker, a web request - committing while a batch is being handled must not fail the batch,
and an outage, when there is one, costs one wait, not one per partition, and is forgotten once it is over."""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid

import pytest
from kafka import KafkaProducer

from worklink.db import DATABASE_OUTAGES
from worklink.messaging.consumer import Outcome
from worklink_notifications.events import HANDLERS
from worklink_notifications.models import Delivery
from tests.services.notifications.support import build_event, catalogue_on, consume, make_consumer
from tests.services.notifications.test_events import deliveries, ids_for

pytestmark = pytest.mark.timeout(120)

ACCEPTED = "referrals.referral.accepted"


def _send_accepted(bootstrap: str, topic: str, catalogue, count: int) -> None:
    """`count` events, each under its own key, so they spread over the topic's partitions."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for _ in range(count):
        event = build_event(catalogue, ACCEPTED, **ids_for(catalogue, ACCEPTED))
        producer.send(topic, key=uuid.uuid4().bytes, value=event.to_json().encode()).get(30)
    producer.close()


def _another_process_writes(path: str) -> None:
    """A write by another connection to the same file, as the delivery worker's would be."""
    connection = sqlite3.connect(path, timeout=30)
    try:
        connection.execute("CREATE TABLE IF NOT EXISTS soak_marks (at REAL)")
        connection.execute("INSERT INTO soak_marks VALUES (?)", (time.time(),))
        connection.commit()
    finally:
        connection.close()


def test_a_write_committed_by_another_process_while_a_batch_is_handled_does_not_fail_the_batch(
        sqlite_db, kafka_broker, new_topic):
    topic, bootstrap = new_topic(), kafka_broker.bootstrap_servers
    catalogue = catalogue_on(topic)
    _send_accepted(bootstrap, topic, catalogue, 2)
    calls: list[str] = []
    other_writer = threading.Thread(target=_another_process_writes, args=(sqlite_db.engine.url.database,))

    def handler(session, event):
        calls.append(event.id)
        if len(calls) == 1:  # the batch has read which events it processed already; now someone else writes
            other_writer.start()
            other_writer.join(timeout=1)  # it waits for the batch's commit, or (a read snapshot) commits first
        HANDLERS[event.type](session, event)

    consumer = make_consumer(sqlite_db, bootstrap, catalogue, handlers={ACCEPTED: handler})
    try:
        assert consume(consumer, 2) == [Outcome.HANDLED] * 2
    finally:
        consumer.close()
    other_writer.join(timeout=30)
    assert not other_writer.is_alive()  # and it got its turn after the batch
    assert len(calls) == 2  # each event handled once: the batch was never rewound and run again
    assert len(deliveries(sqlite_db, Delivery.channel == "inbox")) == 2


class RecordedWaits(threading.Event):
    """The consumer's stop event (`run(stop)`), noting how long each outage made it wait."""

    def __init__(self):
        super().__init__()
        self.waits: list[float] = []

    def wait(self, timeout=None):
        self.waits.append(timeout)
        return super().wait(timeout)


def test_an_outage_costs_one_wait_for_the_whole_batch_and_the_next_outage_starts_short_again(
        sqlite_db, kafka_broker, new_topic):
    topic, bootstrap = new_topic(partitions=4), kafka_broker.bootstrap_servers
    catalogue = catalogue_on(topic)
    outages_left = {"count": 0}

    def handler(session, event):
        if outages_left["count"]:
            outages_left["count"] -= 1
            raise DATABASE_OUTAGES[0]("INSERT", {}, Exception("database is locked"))
        HANDLERS[event.type](session, event)

    consumer = make_consumer(sqlite_db, bootstrap, catalogue, handlers={ACCEPTED: handler})
    stop = RecordedWaits()
    rewound: list[int] = []
    consumer._stopping = stop  # as run(stop) sets it
    try:
        seek = consumer.consumer.seek
        consumer.consumer.seek = lambda tp, offset: (rewound.append(tp.partition), seek(tp, offset))[1]
        for round_ in (1, 2):
            _send_accepted(bootstrap, topic, catalogue, 12)
            consume(consumer, 0)  # joined the group before the records arrive: they come in one batch
            outages_left["count"] = 1
            assert consume(consumer, 12) == [Outcome.HANDLED] * 12
            assert len(set(rewound)) > 1, "the failed batch spanned one partition: nothing was shown"
            assert stop.waits == [consumer.backoff_base] * round_
            rewound.clear()
    finally:
        consumer.close()
    assert len(deliveries(sqlite_db, Delivery.channel == "inbox")) == 24
