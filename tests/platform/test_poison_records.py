"""Every service's real consumer rides over poison records on every topic it reads.

A tombstone (a record with a null value) or JSON nested past the parser's stack once killed
a consumer on every restart: the offset was never committed, so it read the same record and
died again, and every later event behind it waited for ever. Here each service's consumer is
built as `worklink consume` builds it (its own consumer class, its own topics) on a broker of
the test's own (so no other test sees the poison) and must dead-letter both and commit past them.
"""

from __future__ import annotations

import time

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from worklink.config import Settings
from worklink.messaging.topics import ensure_topics, load_topics
from worklink.migrations import upgrade
from worklink.service import installed_services
from worklink.workers import build_consumer
from tests.platform import support

pytestmark = pytest.mark.timeout(300)
POISON = [None, b"[" * 200_000]


def test_every_service_consumer_dead_letters_tombstones_and_deep_nesting(restartable_kafka, tmp_path):
    bootstrap = restartable_kafka.bootstrap_servers
    env = {"WORKLINK_VAR": str(tmp_path), "KAFKA_BOOTSTRAP_SERVERS": bootstrap}
    specs = [spec for spec in installed_services().values() if spec.handlers]
    assert len(specs) >= 3
    ensure_topics(Settings.from_env("platform", env).kafka, load_topics())

    consumers = {}
    for spec in specs:
        settings = Settings.from_env(spec.name, env)
        upgrade(spec.migrations_dir, settings.database_url)
        consumers[spec.group_id] = build_consumer(spec, settings)
    topics = sorted({topic for consumer in consumers.values() for topic in consumer.topics})
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for topic in topics:
        for value in POISON:
            producer.send(topic, key=b"person-or-thing", value=value).get(30)
    producer.close()

    for group, consumer in consumers.items():
        try:
            _consume_to_the_end(consumer)
        finally:
            consumer.close()

    for topic in topics:
        dead = support.read_topic(bootstrap, topic + ".dlt", expected=2 * sum(
            topic in c.topics for c in consumers.values()))
        for group, consumer in consumers.items():
            if topic not in consumer.topics:
                continue
            mine = [r for r in dead if dict(r.headers)["dlt-consumer-group"] == group.encode()]
            assert [r.value for r in mine] == POISON, (group, topic)
            assert {dict(r.headers)["dlt-reason"] for r in mine} == {b"malformed"}, (group, topic)


def _consume_to_the_end(consumer, timeout: float = 90) -> None:
    """Poll until the group's committed offsets reach the end of every partition it reads."""
    probe = KafkaConsumer(bootstrap_servers=consumer.consumer.config["bootstrap_servers"])
    partitions = [TopicPartition(t, p) for t in consumer.topics for p in probe.partitions_for_topic(t)]
    ends = probe.end_offsets(partitions)
    probe.close()
    deadline = time.monotonic() + timeout
    while any((consumer.consumer.committed(tp) or 0) < end for tp, end in ends.items()):
        assert time.monotonic() < deadline, f"{consumer.group_id} did not get past the poison"
        consumer.poll_once(timeout_ms=500)
