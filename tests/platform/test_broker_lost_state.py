"""A broker that comes back without its state (wiped, or the in-memory development broker restarted) delays
work and drops none of it.

On a real broker that the test stops, wipes and starts again: the relay's long-lived idempotent producer, which
had a batch in flight to a topic that came back missing, stops delivering for good (kafka-python 3.0 drops its
producer id on expiring that batch and never asks for another); the relay replaces it and every event staged
since reaches the new broker, each per-key in order; failures any producer meets (a topic missing) renew it
only after failed passes in a row, ever less often. A consumer group whose offsets went with the broker
resumes on the new topics and handles every event published there, and its dead letters go again. A consumer
left running across the loss may handle a key's later events before its earlier ones, once (each still once): the
handlers' version and time guards keep the newest state.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path

import pytest

from worklink.config import KafkaSettings
from worklink.messaging import kafka
from worklink.messaging.consumer import EventConsumer
from worklink.messaging.outbox import PRODUCER_RENEWALS, Outbox, OutboxRelay, wait_until_drained
from worklink.messaging.topics import TopicSpec, ensure_topics
from tests.platform import support

pytestmark = pytest.mark.timeout(400)
QUICK = dict(reconnect_backoff_max_ms=1000, request_timeout_ms=5000)
DELIVERY_TIMEOUT_S = 20  # outlives the broker's restart, so the batch sent during the outage is still in flight


def _database_and_outbox(tmp_path: Path, topic: str) -> tuple:
    """A test database on SQLite, and its outbox of test.thing.happened on `topic`."""
    database = support.make_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    return database, Outbox("test", support.TABLES, support.catalogue(topic))


def _specs(topic: str) -> list[TopicSpec]:
    return [TopicSpec(topic, 2, 1, 3_600_000), TopicSpec(topic + ".dlt", 2, 1, 3_600_000)]


def _lose_state(broker, data_dir: Path, while_down=lambda: None) -> None:
    """Stop the broker, delete everything it stored (topics, offsets, producer ids), start it again."""
    broker.stop()
    while_down()
    shutil.rmtree(data_dir / "data")  # kafka.sh formats it afresh, with a new cluster id
    broker.start()


@pytest.fixture()
def wipeable_kafka(restartable_kafka):
    if restartable_kafka.kind != "local":
        pytest.skip("wiping a broker's data needs the local broker (deploy/kafka/kafka.sh)")
    return restartable_kafka


def _logged(caplog, text: str) -> int:
    return sum(text in record.getMessage() for record in caplog.records)


def test_the_relay_replaces_a_producer_the_empty_broker_no_longer_knows_and_every_staged_event_arrives(
        tmp_path, wipeable_kafka, caplog):
    settings = KafkaSettings(wipeable_kafka.bootstrap_servers)
    topic = "test.lost-state-relay"
    ensure_topics(settings, _specs(topic))
    database, outbox = _database_and_outbox(tmp_path, topic)
    relay = OutboxRelay(
        "test", database, support.TABLES,
        lambda: kafka.producer(settings, "test-relay", max_block_ms=2000,
                               delivery_timeout_ms=DELIVERY_TIMEOUT_S * 1000, **QUICK),
        max_backoff=1.0, flush_timeout=DELIVERY_TIMEOUT_S + 5,
        renew_after_failed_passes=1000)  # only the stale producer's own failure may renew it here
    renewals_before = PRODUCER_RENEWALS.labels("test")._value.get()
    things = [support.new_id() for _ in range(4)]  # a few keys, several events each: per-key order is checked

    caplog.set_level(logging.INFO, logger="worklink.messaging.outbox")
    with support.running(relay) as [worker]:
        staged = support.stage(database, outbox, range(8), things)
        support.wait_for(lambda: relay.pending() == 0, 60, "the first events to be relayed")
        before_outage = len(staged)

        # Staged while the broker is down, sent in a batch that waits in the producer for it; the broker
        # comes back empty (no topic, no producer ids) and the waiting batch meets "unknown topic"...
        _lose_state(wipeable_kafka, tmp_path / "kafka",
                    while_down=lambda: staged.extend(support.stage(database, outbox, range(8, 20), things)))
        time.sleep(DELIVERY_TIMEOUT_S + 2)  # ...until it expires, and the producer it was in is wedged
        assert relay.pending() == 12
        ensure_topics(settings, _specs(topic))  # as `worklink up` and `worklink topics` make them again
        staged += support.stage(database, outbox, range(20, 26), things)
        support.wait_for(lambda: relay.pending() == 0, 3 * DELIVERY_TIMEOUT_S + 30,
                         "the events staged during and after the outage to reach the new broker")
    assert not worker.is_alive()

    records = support.read_topic(wipeable_kafka.bootstrap_servers, topic, len(staged) - before_outage)
    events = [json.loads(record.value) for record in records]
    arrived = [event["id"] for event in events]
    assert set(arrived) == set(staged[before_outage:])  # every one; a duplicate at most (at least once)
    for thing in things:  # in order per key, a re-sent duplicate aside
        seqs = [event["data"]["seq"] for event in events if event["data"]["thing_id"] == str(thing)]
        assert sorted(dict.fromkeys(seqs)) == list(dict.fromkeys(seqs))
    assert _logged(caplog, "outbox relay is replacing its Kafka producer") == 1  # once for the episode
    assert _logged(caplog, "outbox relay is publishing again") == 1
    assert PRODUCER_RENEWALS.labels("test")._value.get() > renewals_before


def test_the_relay_replaces_its_producer_when_the_in_memory_development_broker_restarts_empty(tmp_path, caplog):
    """`./dev up`'s tansu broker keeps nothing across a restart: the relay's producer id is unknown to the new one
    (and tansu refuses the epoch bump kafka-python then asks for, leaving the producer in a fatal error)."""
    from worklink.devstack.tansu import EmbeddedBroker

    topic = "test.lost-state-tansu"
    database, outbox = _database_and_outbox(tmp_path, topic)
    caplog.set_level(logging.INFO, logger="worklink.messaging.outbox")
    with EmbeddedBroker(log_path=tmp_path / "broker.log") as broker:
        settings = KafkaSettings(broker.bootstrap_servers)
        relay = OutboxRelay("test", database, support.TABLES,
                            lambda: kafka.producer(settings, "test-relay", max_block_ms=2000, delivery_timeout_ms=6000,
                                                   **QUICK),
                            max_backoff=1.0, flush_timeout=10, renew_after_failed_passes=1000)
        with support.running(relay):
            staged = support.stage(database, outbox, range(10))
            support.wait_for(lambda: relay.pending() == 0, 60, "the first events to be relayed")
            broker.restart()  # empty; it makes a topic when a producer first writes to it
            staged += support.stage(database, outbox, range(10, 20))
            support.wait_for(lambda: relay.pending() == 0, 60, "the events staged after the restart to be relayed")
        records = support.read_topic(broker.bootstrap_servers, topic, 10)
    assert {json.loads(record.value)["id"] for record in records} == set(staged[10:])
    assert _logged(caplog, "outbox relay is replacing its Kafka producer") == 1


def test_a_consumer_group_whose_offsets_went_with_the_broker_handles_every_event_on_the_new_topics(
        tmp_path, wipeable_kafka):
    settings = KafkaSettings(wipeable_kafka.bootstrap_servers)
    topic = "test.lost-state-consumer"
    ensure_topics(settings, _specs(topic))
    database, outbox = _database_and_outbox(tmp_path, topic)
    relay = OutboxRelay("test", database, support.TABLES,
                        lambda: kafka.producer(settings, "test-relay", max_block_ms=2000, **QUICK), max_backoff=1.0)
    consumer = support.make_consumer(database, wipeable_kafka.bootstrap_servers, topic, "g-lost-state",
                                     support.record_effect, backoff_max=1.0)

    with support.running(relay, consumer):
        support.stage(database, outbox, range(20))  # the group commits offsets up to 20 across the two partitions
        support.wait_for(lambda: support.handled_seqs(database) == list(range(20)), 120,
                         "the first events to be handled")

        _lose_state(wipeable_kafka, tmp_path / "kafka")
        ensure_topics(settings, _specs(topic))
        # More events on the new topics than the group's old offsets: a consumer that kept its old positions
        # would start past the first of them.
        support.stage(database, outbox, range(20, 60))
        support.wait_for(lambda: support.handled_seqs(database) == list(range(60)), 180,
                         "every event published on the new broker to be handled")
        time.sleep(3)  # a replay, if any, has had its chance
    assert support.handled_seqs(database) == list(range(60))  # each once


def test_a_running_consumer_handles_every_event_after_the_in_memory_development_broker_restarts_empty(tmp_path):
    """What `worklink up` relies on when tansu dies: the same consumer (not restarted) and the same relay carry on
    against the new, empty broker - the group is joined afresh, read from the earliest offset of the topics made
    again, each event handled once. More events than before the restart: a consumer that kept its old positions
    would start past the first of them."""
    from worklink.devstack.tansu import EmbeddedBroker

    topic = "test.lost-state-tansu-group"
    database, outbox = _database_and_outbox(tmp_path, topic)
    with EmbeddedBroker(log_path=tmp_path / "broker.log") as broker:
        settings = KafkaSettings(broker.bootstrap_servers)
        ensure_topics(settings, _specs(topic))
        relay = OutboxRelay("test", database, support.TABLES,
                            lambda: kafka.producer(settings, "test-relay", max_block_ms=2000, delivery_timeout_ms=6000,
                                                   **QUICK),
                            max_backoff=1.0, flush_timeout=10)
        consumer = support.make_consumer(database, broker.bootstrap_servers, topic, "g-lost-state-tansu",
                                         support.record_effect, backoff_max=1.0)
        with support.running(relay, consumer) as workers:
            support.stage(database, outbox, range(10))
            support.wait_for(lambda: support.handled_seqs(database) == list(range(10)), 120,
                             "the first events to be handled")
            broker.stop()
            support.stage(database, outbox, range(10, 20))  # while it is down, as `up` waits before restarting it
            time.sleep(3)
            broker.start()  # empty: no topics, no group, no offsets, no producer ids
            ensure_topics(settings, _specs(topic))  # as `up` makes them again
            support.stage(database, outbox, range(20, 40))
            support.wait_for(lambda: support.handled_seqs(database) == list(range(40)), 180,
                             "every event published on the new broker to be handled")
            time.sleep(3)  # a replay, if any, has had its chance
        assert not any(worker.is_alive() for worker in workers)
    assert support.handled_seqs(database) == list(range(40))  # each once


def test_a_consumer_dead_letters_again_after_the_in_memory_development_broker_restarts_empty(tmp_path):
    """Its dead-letter producer, unknown to the new broker, is replaced when a dead letter cannot be written:
    the record is retried (never dropped) and dead-lettered through a fresh one."""
    from kafka import KafkaProducer

    from worklink.devstack.tansu import EmbeddedBroker

    topic = "test.lost-state-dlt"
    database = support.make_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with EmbeddedBroker(log_path=tmp_path / "broker.log") as broker:
        def write_garbage(label: bytes) -> None:
            with KafkaProducer(bootstrap_servers=broker.bootstrap_servers) as plain:
                plain.send(topic, key=b"k", value=b"not an event: " + label).get(timeout=30)

        def dead_letters() -> list[bytes]:
            try:
                records = support.read_topic(broker.bootstrap_servers, topic + ".dlt", 1, timeout=1)
            except ValueError:  # no such topic (yet): kafka-python has no partition to read
                return []
            return [record.value for record in records]

        write_garbage(b"1")
        consumer = support.make_consumer(database, broker.bootstrap_servers, topic, "g-lost-state-dlt",
                                         lambda session, event: None, backoff_max=1.0)
        with support.running(consumer) as [worker]:
            support.wait_for(lambda: dead_letters() == [b"not an event: 1"], 60, "the first dead letter")
            broker.restart()  # empty: no topics, no group, no producer ids
            write_garbage(b"2")
            support.wait_for(lambda: dead_letters() == [b"not an event: 2"], 90,
                             "the record written after the restart to be dead-lettered")
        assert not worker.is_alive()


def test_failures_any_producer_meets_renew_the_relays_producer_only_after_failed_passes_and_ever_less_often(
        tmp_path, kafka_settings, caplog):
    """A topic missing (as on a broker that came back empty, until `worklink up` or `worklink topics` makes it
    again) fails every pass, whatever the producer: it is renewed after failed passes in a row, with a pause
    doubling between renewals, logged once; events arrive once the topic exists."""
    topic = f"test.missing-{support.new_id().hex[:8]}"
    database, outbox = _database_and_outbox(tmp_path, topic)
    relay = OutboxRelay("test", database, support.TABLES,
                        lambda: kafka.producer(kafka_settings, "test-relay", max_block_ms=1000, **QUICK),
                        max_backoff=0.5, renew_after_failed_passes=2, renew_backoff=4.0, max_renew_backoff=60.0)
    renewals = PRODUCER_RENEWALS.labels("test")
    before = renewals._value.get()
    support.stage(database, outbox, range(3))

    caplog.set_level(logging.INFO, logger="worklink.messaging.outbox")
    with support.running(relay):
        support.wait_for(lambda: renewals._value.get() - before >= 1, 60, "a first renewal")
        first = time.monotonic()
        support.wait_for(lambda: renewals._value.get() - before >= 3, 60, "a third renewal")
        # 4 s then 8 s between renewals, though every two passes (~3 s) would call for one.
        assert time.monotonic() - first >= 11
        ensure_topics(kafka_settings, _specs(topic))
        support.wait_for(lambda: relay.pending() == 0, 60, "the events to be relayed once their topic exists")
    assert _logged(caplog, "outbox relay is replacing its Kafka producer") == 1  # once for the episode
    assert any(getattr(record, "reason", "") == "failed passes in a row" for record in caplog.records)
    assert _logged(caplog, "outbox relay is publishing again") == 1
    assert len(support.read_topic(kafka_settings.bootstrap_servers, topic, 3)) == 3


def test_after_a_broker_lost_its_state_a_keys_later_events_may_come_first_and_the_older_ones_then_change_nothing(
        tmp_path, wipeable_kafka, caplog):
    """Per-key order can break, once, after a wipe: the running consumer still holds its position on the old topic
    (10 here) and, before anything tells it its group is gone, fetches from there on the new topic, which by then
    holds more of the key's events: it handles seq 20-29; its commit is refused (IllegalGeneration: the new broker
    does not know its group), so it joins afresh and reads from the earliest offset: seq 10-19, then 20-29 again
    as duplicates. Each event is handled once, nothing is lost, and a handler that keeps the newest state (as every
    service's handlers do, by version or time: a re-driven dead letter arrives late too) ends with the newest one;
    one that applied whatever came last would be left with seq 19. The project's consumer settings, polled by the
    test: no timing of ours decides it."""
    settings = KafkaSettings(wipeable_kafka.bootstrap_servers)
    topic = "test.lost-state-order"
    ensure_topics(settings, _specs(topic))
    database, outbox = _database_and_outbox(tmp_path, topic)
    relay = OutboxRelay("test", database, support.TABLES,
                        lambda: kafka.producer(settings, "test-relay", max_block_ms=2000, **QUICK))
    thing = support.new_id()

    def handler(session, event):  # logs each handling, and keeps the newest seq as the services' guards do
        seq = event.data["seq"]
        session.execute(support.effects.insert().values(event_id=event.id, thing_id=str(thing), seq=seq))
        row = session.execute(support.things.select().where(support.things.c.id == thing)).first()
        if row is None:
            session.execute(support.things.insert().values(id=thing, label=str(seq)))
        elif int(row.label) < seq:  # an older state than the one held is ignored
            session.execute(support.things.update().where(support.things.c.id == thing).values(label=str(seq)))

    consumer = EventConsumer(
        group_id="g-lost-state-order", database=database, tables=support.TABLES, catalogue=support.catalogue(topic),
        handlers={"test.thing.happened": handler}, backoff_max=1.0,
        consumer_factory=lambda: kafka.consumer(settings, "g-lost-state-order", "test"),  # production's settings
        producer_factory=lambda: kafka.producer(settings, "test-dlt"))

    def poll_until(count: int) -> None:
        deadline = time.monotonic() + 120
        while len(support.handled_seqs(database)) < count and time.monotonic() < deadline:
            consumer.poll_once()

    caplog.set_level(logging.WARNING, logger="worklink.messaging.consumer")
    try:
        support.stage(database, outbox, range(10), [thing])
        wait_until_drained(relay)
        poll_until(10)  # the group's offset (and the consumer's position) on the key's partition: 10
        assert support.handled_seqs(database, in_order=True) == list(range(10))

        _lose_state(wipeable_kafka, tmp_path / "kafka")
        ensure_topics(settings, _specs(topic))
        # the new topic holds more of the key's events than the old position
        support.stage(database, outbox, range(10, 30), [thing])
        relay.close()  # its producer's id is unknown to the new broker
        wait_until_drained(relay, 120)
        poll_until(30)
        time.sleep(3)  # a replay, if any, has had its chance
        consumer.poll_once()
    finally:
        consumer.close()
        relay.close()
    order = support.handled_seqs(database, in_order=True)
    assert sorted(order) == list(range(30))  # each once: nothing lost, nothing applied twice
    assert order[10:] == [*range(20, 30), *range(10, 20)]  # seq 20-29 first: the order per key broke
    assert _logged(caplog, "offset commit failed") >= 1  # the stale member's commit, refused: why 10-19 still came
    with database.engine.connect() as conn:
        assert conn.execute(support.things.select()).one().label == "29"  # the newest state, kept
