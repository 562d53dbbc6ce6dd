"""Transactional outbox + relay against a real Kafka broker, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
from collections import defaultdict

import pytest
import sqlalchemy as sa

from worklink.config import KafkaSettings
from worklink.events.catalogue import EventSchemaError
from worklink.messaging import kafka
from worklink.messaging.outbox import Outbox, OutboxRelay, wait_until_drained
from tests.platform import support

pytestmark = pytest.mark.timeout(300)


def make_relay(database, bootstrap: str, **producer_overrides) -> OutboxRelay:
    settings = KafkaSettings(bootstrap_servers=bootstrap)
    return OutboxRelay("test", database, support.TABLES,
                       lambda: kafka.producer(settings, "test-relay", **producer_overrides),
                       batch_size=200, flush_timeout=30)


def publish_things(database, outbox: Outbox, keys, per_key: int, start_seq: int = 0) -> list[str]:
    ids = []
    for seq in range(start_seq, start_seq + per_key):
        with database.transaction() as session:
            for key in keys:
                ids.append(str(outbox.publish(session, "test.thing.happened", {"thing_id": key, "seq": seq})))
    return ids


def test_rolled_back_transaction_never_publishes(database_url, kafka_broker, new_topic):
    topic = new_topic(partitions=1)
    database = support.make_database(database_url)
    outbox = Outbox("test", support.TABLES, support.catalogue(topic))
    kept, dropped = support.new_id(), support.new_id()

    with pytest.raises(RuntimeError):
        with database.transaction() as session:
            session.execute(support.things.insert().values(id=dropped, label="dropped"))
            outbox.publish(session, "test.thing.happened", {"thing_id": dropped, "seq": 1})
            raise RuntimeError("the domain change failed")
    with database.transaction() as session:
        session.execute(support.things.insert().values(id=kept, label="kept"))
        outbox.publish(session, "test.thing.happened", {"thing_id": kept, "seq": 2})

    assert support.count(database, support.TABLES.outbox) == 1
    relay = make_relay(database, kafka_broker.bootstrap_servers)
    wait_until_drained(relay)
    relay.close()
    records = support.read_topic(kafka_broker.bootstrap_servers, topic, expected=1)
    assert [json.loads(r.value)["data"]["thing_id"] for r in records] == [str(kept)]
    record = records[0]
    assert record.key == str(kept).encode()
    headers = dict(record.headers)
    assert headers["content-type"].startswith(b"application/cloudevents+json")
    assert headers["traceparent"].startswith(b"00-")
    envelope = json.loads(record.value)
    assert envelope["specversion"] == "1.0"
    assert envelope["dataschema"] == "urn:worklink:event:test.thing.happened:v1"
    assert envelope["source"] == "urn:worklink:test"


class _BusyWhileFlushing:
    """A real producer whose flush lets another transaction run first: what happens while a
    relay's batch is in flight."""

    def __init__(self, producer, meanwhile):
        self.producer, self.meanwhile = producer, meanwhile

    def send(self, *args, **kwargs):
        return self.producer.send(*args, **kwargs)

    def flush(self, timeout=None):
        self.meanwhile()
        return self.producer.flush(timeout=timeout)

    def close(self, timeout=None):
        self.producer.close(timeout=timeout)


def test_a_row_dropped_while_its_batch_is_in_flight_never_marks_a_newer_event_sent(database_url, kafka_broker,
                                                                                   new_topic):
    """An unsent row may be deleted (referrals drops a withdrawn person's waiting messages). SQLite then
    gives the next event the deleted last row's position; the relay must mark only what it sent."""
    topic = new_topic(partitions=1)
    database = support.make_database(database_url)
    outbox = Outbox("test", support.TABLES, support.catalogue(topic))
    first, dropped, newer = support.new_id(), support.new_id(), support.new_id()
    with database.transaction() as session:
        outbox.publish(session, "test.thing.happened", {"thing_id": first, "seq": 1})
        dropped_event = outbox.publish(session, "test.thing.happened", {"thing_id": dropped, "seq": 2})
    table = support.TABLES.outbox

    def drop_and_publish_another():
        with database.transaction() as session:
            session.execute(table.delete().where(table.c.id == dropped_event, table.c.sent_at.is_(None)))
            outbox.publish(session, "test.thing.happened", {"thing_id": newer, "seq": 3})

    settings = KafkaSettings(bootstrap_servers=kafka_broker.bootstrap_servers)
    relay = OutboxRelay("test", database, support.TABLES, lambda: _BusyWhileFlushing(
        kafka.producer(settings, "test-relay"), drop_and_publish_another), batch_size=200, flush_timeout=30)
    try:
        relay.publish_pending()  # sends the first two; the second is dropped and the newer one written meanwhile
        relay.producer.meanwhile = lambda: None
        wait_until_drained(relay)
    finally:
        relay.close()
    records = support.read_topic(kafka_broker.bootstrap_servers, topic, expected=3)
    assert [json.loads(r.value)["data"]["thing_id"] for r in records] == [str(first), str(dropped), str(newer)]
    assert support.count(database, table, table.c.sent_at.is_(None)) == 0


def test_publishing_invalid_data_raises_and_writes_nothing(tmp_path):
    database = support.make_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    outbox = Outbox("test", support.TABLES, support.catalogue("test.unused"))
    with pytest.raises(EventSchemaError) as raised:
        with database.transaction() as session:
            outbox.publish(session, "test.thing.happened",
                           {"thing_id": "not-a-uuid", "seq": 1, "colour": "blue", "name": "Jane"})
    assert set(raised.value.messages) == {"thing_id", "colour", "name"}
    assert support.count(database, support.TABLES.outbox) == 0


def test_broker_outage_delays_events_but_loses_none(database_url, restartable_kafka):
    """1,000 events written while the broker is down all arrive after it returns, in per-key order.

    At least once, not exactly once: a batch the producer gave up on (its delivery timeout passed while the
    broker came back) may have been written all the same, and its rows, still unsent, go again. Consumers drop
    such a copy by its event id (test_consumer_dedup.py); what must hold here is that nothing is lost and each
    key's events first arrive in order, so a consumer that skips what it has seen handles them in order."""
    bootstrap = restartable_kafka.bootstrap_servers
    from worklink.messaging.topics import TopicSpec, ensure_topics
    topic = "test.outage"
    ensure_topics(KafkaSettings(bootstrap), [TopicSpec(topic, 3, 1, 3_600_000)])

    database = support.make_database(database_url)
    outbox = Outbox("test", support.TABLES, support.catalogue(topic))
    keys = [support.new_id() for _ in range(20)]
    relay = make_relay(database, bootstrap, max_block_ms=2000, request_timeout_ms=3000,
                       delivery_timeout_ms=6000, reconnect_backoff_max_ms=1000)
    relay.max_backoff = 1.0
    stop = threading.Event()
    worker = threading.Thread(target=relay.run, args=(stop,), daemon=True)
    worker.start()
    try:
        before = publish_things(database, outbox, keys, per_key=5)          # 100 while up
        support.wait_for(lambda: relay.pending() == 0, 60, "events published before the outage")

        restartable_kafka.stop()
        during = publish_things(database, outbox, keys, per_key=50, start_seq=5)  # 1,000 while down
        assert len(during) == 1000
        support.wait_for(lambda: _failed_attempts(database) > 0, 60, "the relay to try and fail while down")
        assert relay.pending() == 1000

        restartable_kafka.start()
        support.wait_for(lambda: relay.pending() == 0, 180, "the backlog to drain after the broker returned")
    finally:
        stop.set()
        worker.join(60)

    records = support.read_topic(bootstrap, topic, expected=1100, timeout=120)
    ids = [json.loads(r.value)["id"] for r in records]
    assert set(ids) == set(before + during)
    first_seen, sequences = set(), defaultdict(list)
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        event = json.loads(record.value)
        if event["id"] not in first_seen:  # as an idempotent consumer sees them
            first_seen.add(event["id"])
            sequences[event["data"]["thing_id"]].append(event["data"]["seq"])
    assert all(seqs == list(range(55)) for seqs in sequences.values()), "per-key order was broken"


def _failed_attempts(database) -> int:
    outbox = support.TABLES.outbox
    return support.count(database, outbox, outbox.c.sent_at.is_(None), outbox.c.attempts > 0)


def test_only_one_relay_per_database_publishes(database_url):
    from worklink.messaging.outbox import RelayLock

    database = support.make_database(database_url)
    first, second = RelayLock(database, "test"), RelayLock(database, "test")
    try:
        assert first.acquire()
        assert not second.acquire()
        first.release()
        assert second.acquire()
    finally:
        first.release()
        second.release()


def test_the_relay_lock_holds_no_transaction_open_between_polls(postgres_url):
    """An idle transaction pins the vacuum horizon, and a server with idle_in_transaction_session_timeout ends
    the session - and the lock with it, letting a second relay in while this one still publishes."""
    from worklink.messaging.outbox import RelayLock

    database = support.make_database(postgres_url)
    lock = RelayLock(database, "test")
    try:
        assert lock.acquire() and lock.acquire()  # taken, then checked on the next poll
        with database.engine.connect() as watcher:
            pid = lock._conn.connection.dbapi_connection.info.backend_pid
            state = watcher.execute(sa.text("SELECT state FROM pg_stat_activity WHERE pid = :p"), {"p": pid}).scalar()
        assert state == "idle"
    finally:
        lock.release()


def test_a_relay_lock_session_left_in_a_failed_state_is_ended_so_the_lock_is_free_again(postgres_url):
    """A check of the lock failing on a session that lives on (here a transaction left failed, 25P02) dropped the
    connection unclosed: the pool kept the session, still holding the lock, and no relay could take it again."""
    from worklink.messaging.outbox import RelayLock

    database = support.make_database(postgres_url)
    lock, other = RelayLock(database, "test"), RelayLock(database, "test")
    try:
        assert lock.acquire()
        with pytest.raises(sa.exc.DataError):
            lock._conn.execute(sa.text("SELECT 1/0"))
        assert not lock.acquire()  # the check fails: this relay stops publishing for the poll ...
        assert other.acquire()  # ... and the lock is free: the broken session was ended, not pooled
        other.release()
        assert lock.acquire()  # the first relay takes it again on a later poll
    finally:
        lock.release()
        other.release()


def test_sent_rows_are_pruned_restricted_ones_sooner_and_unsent_never(database_url):
    from datetime import timedelta

    from worklink.db import utcnow
    from worklink.messaging.outbox import restricted_event_types

    database = support.make_database(database_url)
    outbox = Outbox("test", support.TABLES, support.catalogue("test.unused"))
    keys = [support.new_id() for _ in range(4)]
    publish_things(database, outbox, keys, per_key=1)
    table, now = support.TABLES.outbox, utcnow()
    with database.engine.connect() as conn:
        positions = [p for (p,) in conn.execute(sa.select(table.c.position).order_by(table.c.position))]
    ages = [timedelta(days=8), timedelta(days=2), timedelta(hours=2), None]  # the last one was never sent
    with database.engine.begin() as conn:
        for position, age in zip(positions, ages):
            conn.execute(table.update().where(table.c.position == position)
                         .values(sent_at=now - age if age else None))
        conn.execute(table.update().where(table.c.position == positions[1]).values(type="x.person.restricted"))
        conn.execute(table.update().where(table.c.position == positions[2]).values(type="x.person.restricted"))
    relay = OutboxRelay("test", database, support.TABLES, lambda: None, restricted_types=frozenset(
        {"x.person.restricted"}))
    assert relay.prune(now) == 2  # a week-old row, and a two-day-old restricted one
    with database.engine.connect() as conn:
        left = [p for (p,) in conn.execute(sa.select(table.c.position).order_by(table.c.position))]
    assert left == positions[2:]  # a fresh restricted row is kept a day; an unsent row until it is sent
    assert "notifications.person_message.requested" in restricted_event_types()
    database.dispose()


def test_the_relay_outlives_a_broker_gone_for_days_renewing_its_producer_no_more_often_than_the_ceiling(tmp_path):
    """The pause between producer renewals doubled as renew_backoff * 2 ** (renewals - 1): past 1,024 renewals
    in one outage (some three and a half days at the 300 s ceiling) the power no longer fit a float, and the
    OverflowError ended the relay the outage was only to delay."""
    import time

    class Unused:  # a producer that never delivered: what discard_producer closes
        def close(self, timeout=None):
            pass

    database = support.make_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    relay = OutboxRelay("test", database, support.TABLES, Unused, renew_backoff=5.0, max_renew_backoff=300.0)
    for _ in range(1100):
        relay._producer = Unused()
        relay._renew_producer()
    assert relay._renewals == 1100
    assert relay._next_renewal - time.monotonic() == pytest.approx(300.0, abs=5)
