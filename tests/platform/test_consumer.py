"""The idempotent consumer against a real Kafka broker, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from kafka import KafkaProducer

from worklink.config import KafkaSettings
from worklink.events.envelope import CloudEvent, kafka_headers
from worklink.messaging import kafka
from worklink.messaging.consumer import Outcome, PermanentError, ReceivedEvent
from tests.platform import support
from tests.platform.support import make_consumer
from tests.events import consume as consume_until

pytestmark = pytest.mark.timeout(300)
ROOT = Path(__file__).resolve().parents[2]


def record_effect(session, event: ReceivedEvent) -> None:
    session.execute(support.effects.insert().values(
        event_id=event.id, thing_id=str(event.data["thing_id"]), seq=event.data["seq"]))


def thing_event(topic: str, seq: int = 1, **data_overrides) -> CloudEvent:
    """A valid event, then (to fake a broken producer) `data_overrides` forced into its data."""
    event, _ = support.catalogue(topic).build(
        "test.thing.happened", {"thing_id": uuid.uuid4(), "seq": seq}, source="urn:worklink:test")
    if data_overrides:
        data = {**event.data, **data_overrides}
        if "seq_as_text" in data:
            data["seq"] = data.pop("seq_as_text")
        event = CloudEvent(type=event.type, source=event.source, id=event.id, data=data,
                           dataschema=event.dataschema)
    return event


def send(bootstrap: str, topic: str, *values: bytes) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for value in values:
        producer.send(topic, value=value, key=b"k",
                      headers=kafka_headers("00-" + "a" * 32 + "-" + "b" * 16 + "-01", "corr-1")).get(30)
    producer.close()


def test_transient_failure_succeeds_on_retry_with_one_effect(database_url, kafka_broker, new_topic):
    topic = new_topic()
    database = support.make_database(database_url)
    calls = []

    def flaky(session, event):
        calls.append(event.id)
        record_effect(session, event)  # written, then rolled back by the failure
        if len(calls) < 3:
            raise ConnectionResetError("the mail relay hung up")

    event = thing_event(topic)
    send(kafka_broker.bootstrap_servers, topic, event.to_json().encode())
    consumer = make_consumer(database, kafka_broker.bootstrap_servers, topic, f"g-{uuid.uuid4().hex}", flaky)
    try:
        assert consume_until(consumer, 1) == [Outcome.HANDLED]
    finally:
        consumer.close()
    assert calls == [event.id] * 3
    assert support.count(database, support.effects) == 1
    assert support.count(database, support.TABLES.processed_events) == 1


def test_redelivery_after_crash_between_handler_and_offset_commit_has_one_effect(
        database_url, kafka_broker, new_topic):
    topic, group = new_topic(), f"g-{uuid.uuid4().hex}"
    database = support.make_database(database_url)
    event = thing_event(topic)
    send(kafka_broker.bootstrap_servers, topic, event.to_json().encode())

    crashed = subprocess.run(
        [sys.executable, "-m", "tests.platform.crashing_consumer", database_url,
         kafka_broker.bootstrap_servers, topic, group],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120)
    assert crashed.returncode == 17, crashed.stderr[-3000:]
    assert support.count(database, support.effects) == 1  # the handler's transaction did commit

    # The offset was never committed, so the group gets the event again...
    consumer = make_consumer(database, kafka_broker.bootstrap_servers, topic, group, record_effect)
    try:
        assert consume_until(consumer, 1, timeout=90) == [Outcome.DUPLICATE]
    finally:
        consumer.close()
    # ...and it has no second effect.
    assert support.count(database, support.effects) == 1


def test_poison_messages_go_to_the_dead_letter_topic_and_consumption_continues(
        database_url, kafka_broker, new_topic):
    topic = new_topic()
    bootstrap = kafka_broker.bootstrap_servers
    database = support.make_database(database_url)
    malformed = b'{"specversion": "1.0", "id": '
    invalid = thing_event(topic, seq=7, seq_as_text="seven").to_json().encode()
    good = thing_event(topic, seq=8)
    send(bootstrap, topic, malformed, invalid, good.to_json().encode())

    consumer = make_consumer(database, bootstrap, topic, f"g-{uuid.uuid4().hex}", record_effect)
    try:
        outcomes = consume_until(consumer, 3)
    finally:
        consumer.close()
    assert outcomes == [Outcome.DEAD_LETTERED, Outcome.DEAD_LETTERED, Outcome.HANDLED]
    assert support.count(database, support.effects) == 1

    dead = support.read_topic(bootstrap, topic + ".dlt", expected=2)
    assert [r.value for r in dead] == [malformed, invalid]  # the raw bytes, untouched
    first, second = (dict(r.headers) for r in dead)
    assert first["dlt-reason"] == b"malformed"
    assert b"not valid JSON" in first["dlt-error"]
    assert second["dlt-reason"] == b"schema-invalid"
    assert b"seq" in second["dlt-error"]
    for headers, offset in ((first, 0), (second, 1)):
        assert headers["dlt-original-topic"] == topic.encode()
        assert headers["dlt-original-partition"] == b"0"
        assert headers["dlt-original-offset"] == str(offset).encode()
        assert headers["traceparent"].startswith(b"00-")  # the original headers are kept


def test_handler_that_keeps_failing_is_dead_lettered_after_bounded_retries(tmp_path, kafka_broker, new_topic):
    topic = new_topic()
    database = support.make_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    calls = []

    def broken(session, event):
        calls.append(event.id)
        raise ValueError("bug in handler")

    def rejecting(session, event):
        raise PermanentError("thing belongs to no organisation we know")

    send(kafka_broker.bootstrap_servers, topic, thing_event(topic).to_json().encode())
    consumer = make_consumer(database, kafka_broker.bootstrap_servers, topic, f"g-{uuid.uuid4().hex}",
                             broken, max_attempts=3)
    try:
        first = consume_until(consumer, 1)
        consumer.handlers["test.thing.happened"] = rejecting
        send(kafka_broker.bootstrap_servers, topic, thing_event(topic, seq=2).to_json().encode())
        second = consume_until(consumer, 1)
    finally:
        consumer.close()
    assert first == second == [Outcome.DEAD_LETTERED]
    assert len(calls) == 3
    dead = support.read_topic(kafka_broker.bootstrap_servers, topic + ".dlt", expected=2)
    assert [dict(r.headers)["dlt-reason"] for r in dead] == [b"handler-failed", b"rejected"]
    assert support.count(database, support.TABLES.processed_events) == 0


def test_unknown_event_types_are_skipped_not_dead_lettered(tmp_path, kafka_broker, new_topic):
    from prometheus_client import REGISTRY

    topic, group = new_topic(), f"g-{uuid.uuid4().hex}"
    database = support.make_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    stranger = CloudEvent(type="elsewhere.thing.happened", source="urn:x", data={"a": 1},
                          dataschema="urn:worklink:event:elsewhere.thing.happened:v1")
    good = thing_event(topic)
    send(kafka_broker.bootstrap_servers, topic, stranger.to_json().encode(), good.to_json().encode())
    consumer = make_consumer(database, kafka_broker.bootstrap_servers, topic, group, record_effect)
    try:
        assert consume_until(consumer, 2) == [Outcome.SKIPPED, Outcome.HANDLED]
    finally:
        consumer.close()
    assert support.count(database, support.effects) == 1
    # Counted, but under "unknown": a record's type can be any string, and each label is kept for ever.
    skipped = {"group": group, "outcome": "skipped"}
    assert REGISTRY.get_sample_value("worklink_consumer_events_total", {**skipped, "type": "unknown"}) == 1
    assert REGISTRY.get_sample_value("worklink_consumer_events_total",
                                     {**skipped, "type": "elsewhere.thing.happened"}) is None


def test_database_outage_rewinds_instead_of_dead_lettering(tmp_path, kafka_broker, new_topic):
    """An unreachable database delays the event; it is handled once the database is back."""
    import sqlalchemy as sa

    topic = new_topic()
    database = support.make_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    outage = {"left": 2}

    def handler(session, event):
        if outage["left"]:
            outage["left"] -= 1
            raise sa.exc.OperationalError("SELECT 1", {}, Exception("connection refused"))
        record_effect(session, event)

    send(kafka_broker.bootstrap_servers, topic, thing_event(topic).to_json().encode())
    consumer = make_consumer(database, kafka_broker.bootstrap_servers, topic, f"g-{uuid.uuid4().hex}", handler)
    try:
        assert consume_until(consumer, 1) == [Outcome.HANDLED]
    finally:
        consumer.close()
    assert outage["left"] == 0
    assert support.count(database, support.effects) == 1
    assert support.read_topic(kafka_broker.bootstrap_servers, topic + ".dlt", expected=0, timeout=2) == []


def test_consumer_lag_is_exported(tmp_path, kafka_broker, new_topic):
    from prometheus_client import REGISTRY

    topic = new_topic()
    database = support.make_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    send(kafka_broker.bootstrap_servers, topic, *(thing_event(topic, seq=i).to_json().encode() for i in range(5)))
    group = f"g-{uuid.uuid4().hex}"
    settings = KafkaSettings(kafka_broker.bootstrap_servers)
    consumer = make_consumer(database, kafka_broker.bootstrap_servers, topic, group, record_effect)
    consumer.consumer_factory = lambda: kafka.consumer(settings, group, "lag", max_poll_records=2,
                                                       session_timeout_ms=6000, heartbeat_interval_ms=1000)
    try:
        consume_until(consumer, 2)
    finally:
        consumer.close()
    lag = REGISTRY.get_sample_value("worklink_consumer_lag", {"group": group, "topic": topic, "partition": "0"})
    assert lag == 3


def test_processed_ids_are_kept_for_the_dedup_window_then_pruned(database_url, kafka_broker, new_topic):
    """Within the window a redelivered event is a duplicate; past it (no topic still holds the
    event) its id is forgotten, so the table does not grow for ever. Other groups' ids stay."""
    import sqlalchemy as sa

    from worklink.db import utcnow

    topic, group = new_topic(), f"g-{uuid.uuid4().hex}"
    database = support.make_database(database_url)
    event = thing_event(topic)
    send(kafka_broker.bootstrap_servers, topic, event.to_json().encode(), event.to_json().encode())
    consumer = make_consumer(database, kafka_broker.bootstrap_servers, topic, group, record_effect,
                             dedup_window=timedelta(days=15))
    try:
        assert consume_until(consumer, 2) == [Outcome.HANDLED, Outcome.DUPLICATE]
    finally:
        consumer.close()
    processed = support.TABLES.processed_events
    with database.transaction() as session:
        session.execute(processed.insert().values(consumer="another-group", event_id="old-elsewhere",
                                                  event_type="test.thing.happened",
                                                  processed_at=utcnow() - timedelta(days=60)))
    assert consumer.prune_processed(now=utcnow() + timedelta(days=14)) == 0  # still inside the window
    assert consumer.prune_processed(now=utcnow() + timedelta(days=16)) == 1
    with database.sessions() as session:
        assert session.execute(sa.select(processed.c.consumer, processed.c.event_id)).all() == [
            ("another-group", "old-elsewhere")]


def test_the_dedup_window_outlasts_every_topic_a_consumer_reads(tmp_path):
    from worklink.config import Settings
    from worklink.events.contracts import CATALOGUE
    from worklink.messaging.topics import TopicSpec, dedup_window, load_topics
    from worklink.service import installed_services
    from worklink.workers import build_consumer

    day = 24 * 3600 * 1000
    specs = [TopicSpec("broadcast", 3, 1, 14 * day), TopicSpec("restricted", 3, 1, 3 * day, restricted=True)]
    assert dedup_window(["restricted"], specs) == timedelta(days=4)
    assert dedup_window(["broadcast", "restricted"], specs) == timedelta(days=15)
    assert dedup_window(["undeclared"], specs) is None
    # A re-drive from a dead-letter topic can bring an event back as long as the DLT keeps it.
    specs += [TopicSpec("restricted.dlt", 3, 1, 7 * day, restricted=True), TopicSpec("broadcast.dlt", 3, 1, 30 * day)]
    assert dedup_window(["restricted"], specs) == timedelta(days=8)
    assert dedup_window(["broadcast", "restricted"], specs) == timedelta(days=31)
    # Each service's consumer, built as `worklink consume` builds it, from deploy/topics.toml:
    retention = {spec.name: spec.retention_ms for spec in load_topics()}
    consumers = [spec for spec in installed_services().values() if spec.handlers]
    assert len(consumers) >= 3
    for spec in consumers:
        consumer = build_consumer(spec, Settings.from_env(spec.name, {"WORKLINK_VAR": str(tmp_path)}))
        topics = {CATALOGUE.latest(t).topic for t in spec.handlers}
        longest = max(retention[name] for t in topics for name in (t, t + ".dlt"))
        assert consumer.dedup_window == timedelta(milliseconds=longest, days=1), spec.name


def test_a_running_consumer_prunes_as_it_goes(tmp_path, kafka_broker, new_topic):
    import threading

    import sqlalchemy as sa

    from worklink.db import utcnow

    topic, group = new_topic(), f"g-{uuid.uuid4().hex}"
    database = support.make_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    processed = support.TABLES.processed_events
    with database.transaction() as session:
        session.execute(processed.insert().values(consumer=group, event_id="stale", event_type="test.thing.happened",
                                                  processed_at=utcnow() - timedelta(days=2)))
    consumer = make_consumer(database, kafka_broker.bootstrap_servers, topic, group, record_effect,
                             dedup_window=timedelta(days=1))
    stop = threading.Event()
    running = threading.Thread(target=consumer.run, args=(stop,))
    running.start()
    try:
        deadline = time.monotonic() + 30
        while support.count(database, processed) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        running.join(30)
    with database.sessions() as session:
        assert session.execute(sa.select(processed.c.event_id)).all() == []


def test_tombstones_and_absurd_records_are_dead_lettered_and_the_next_event_handled(
        database_url, kafka_broker, new_topic):
    """A null value (a Kafka tombstone), JSON nested past the parser's stack and a schema
    version int() refuses are each dead-lettered; the consumer keeps going."""
    topic = new_topic()
    bootstrap = kafka_broker.bootstrap_servers
    database = support.make_database(database_url)
    deep = b"[" * 200_000
    huge_version = thing_event(topic).to_dict() | {"dataschema": "urn:worklink:event:test.thing.happened:v" + "9" * 5000}
    good = thing_event(topic, seq=9)
    send(bootstrap, topic, None, deep, json.dumps(huge_version).encode(), good.to_json().encode())

    consumer = make_consumer(database, bootstrap, topic, f"g-{uuid.uuid4().hex}", record_effect)
    try:
        outcomes = consume_until(consumer, 4)
    finally:
        consumer.close()
    assert outcomes == [Outcome.DEAD_LETTERED] * 3 + [Outcome.HANDLED]
    assert support.count(database, support.effects) == 1

    dead = support.read_topic(bootstrap, topic + ".dlt", expected=3)
    assert [r.value for r in dead] == [None, deep, json.dumps(huge_version).encode()]
    headers = [dict(r.headers) for r in dead]
    assert [h["dlt-reason"] for h in headers] == [b"malformed", b"malformed", b"unsupported-version"]
    assert b"tombstone" in headers[0]["dlt-error"]
    assert b"nested too deeply" in headers[1]["dlt-error"]
    assert [h["dlt-original-offset"] for h in headers] == [b"0", b"1", b"2"]


def test_a_record_s_correlation_id_is_taken_only_when_it_is_an_id(tmp_path, kafka_broker, new_topic):
    """The web takes X-Correlation-ID only when it is an id. The consumer bound a record's correlation-id header as
    it came, so every log line of the handler and every event it published carried it: text of any length (over
    the outbox's 128 characters, a PostgreSQL error that dead-lettered a good event) or a person's e-mail address,
    on to a broadcast topic's headers. Anything else is replaced by the event's id, as a missing one is."""
    from worklink import context

    topic, bootstrap = new_topic(), kafka_broker.bootstrap_servers
    database = support.make_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    seen = []
    correlations = ["jo.bloggs@example.org", "x" * 500, "flow-7\r\nSet-Cookie: x", "flow-7:step.2"]
    events = [thing_event(topic, seq=seq) for seq in range(len(correlations))]
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for event, correlation in zip(events, correlations):
        producer.send(topic, value=event.to_json().encode(), key=b"k",
                      headers=kafka_headers("00-" + "a" * 32 + "-" + "b" * 16 + "-01", correlation)).get(30)
    producer.close()
    consumer = make_consumer(database, bootstrap, topic, f"g-{uuid.uuid4().hex}",
                             lambda session, event: seen.append(context.correlation_id_var.get()))
    try:
        assert consume_until(consumer, len(events)) == [Outcome.HANDLED] * len(events)
    finally:
        consumer.close()
    assert seen == [event.id for event in events[:3]] + ["flow-7:step.2"]


def test_a_consumer_started_before_its_topic_exists_reads_it_once_created(tmp_path, kafka_broker, kafka_settings):
    """A service can start before its topics are provisioned: its group forms with nothing assigned and
    rejoins when a metadata refresh shows the topic's partitions. kafka-python refreshes soon while the
    topic is unknown; a leader that joined on metadata without the partitions (seen once in CI, a race
    with topic creation) waits for the periodic refresh, which the factory bounds at 30 s, not 5 min."""
    from worklink.messaging.topics import TopicSpec, ensure_topics

    topic = f"test.{uuid.uuid4().hex[:10]}"
    database = support.make_database(f"sqlite:///{tmp_path}/late.db")
    consumer = make_consumer(database, kafka_broker.bootstrap_servers, topic, f"g-late-{uuid.uuid4().hex[:6]}",
                             record_effect)
    bounded = kafka.consumer(kafka_settings, "g-config", "config")
    try:
        assert bounded.config["metadata_max_age_ms"] <= 30_000
    finally:
        bounded.close()
    try:
        consumer.poll_once(timeout_ms=2000)  # joined: the topic is unknown, so nothing is assigned
        ensure_topics(kafka_settings, [TopicSpec(topic, 1, 1, 3_600_000), TopicSpec(topic + ".dlt", 1, 1, 3_600_000)])
        send(kafka_broker.bootstrap_servers, topic, thing_event(topic, seq=7).to_json().encode())
        handled = []
        support.wait_for(lambda: handled.extend(consumer.poll_once(timeout_ms=500)) or Outcome.HANDLED in handled,
                         90, "the late topic's event to be handled")
    finally:
        consumer.close()
    with database.engine.connect() as connection:
        assert connection.execute(support.effects.select()).all()[0].seq == 7
