"""Introducing a new version of an event (v1 -> v2) while consumers of v1 still run.

The rollout, on real Kafka through a real outbox and relay:
1. v2 is declared `readers_only`: consumers that know it deploy; publishers still send v1.
2. The flag is dropped: publishers send v2. A consumer still on the old catalogue dead-letters
   each v2 event as `unsupported-version` (re-drivable once it is upgraded) and keeps handling
   v1; a consumer that knows both handles each by its version.
"""

from __future__ import annotations

import json
import uuid

import pytest
from marshmallow import Schema, fields

from worklink.config import KafkaSettings
from worklink.events.catalogue import Catalogue, EventType, UnknownEventType
from worklink.messaging import kafka
from worklink.messaging.consumer import EventConsumer, Outcome, ReceivedEvent
from worklink.messaging.outbox import Outbox, OutboxRelay, wait_until_drained
from tests.platform import support

pytestmark = pytest.mark.timeout(300)


class ThingV1(Schema):
    thing_id = fields.UUID(required=True)
    seq = fields.Integer(required=True)


class ThingV2(Schema):
    """A breaking change (a field renamed), so a new version."""

    thing_id = fields.UUID(required=True)
    sequence = fields.Integer(required=True)


def versions(topic: str, *, v2: bool = True, readers_only: bool = False) -> Catalogue:
    entries = [EventType("test.thing.happened", 1, ThingV1, topic, "thing_id", "v1")]
    if v2:
        entries.append(EventType("test.thing.happened", 2, ThingV2, topic, "thing_id", "v2",
                                 readers_only=readers_only))
    return Catalogue(entries)


def test_a_version_for_readers_only_is_not_published_until_the_flag_is_dropped():
    declared = versions("t", readers_only=True)
    event, entry = declared.build("test.thing.happened", {"thing_id": uuid.uuid4(), "seq": 1}, source="urn:x")
    assert entry.version == 1 and event.dataschema.endswith(":v1")
    with pytest.raises(UnknownEventType, match="readers only"):
        declared.build("test.thing.happened", {"thing_id": uuid.uuid4(), "sequence": 1}, source="urn:x", version=2)
    # ...while a consumer with this catalogue already reads v2.
    v2_event, _ = versions("t").build("test.thing.happened", {"thing_id": uuid.uuid4(), "sequence": 2},
                                      source="urn:x")
    assert declared.load(v2_event)[1]["sequence"] == 2


def test_every_version_of_a_type_keeps_its_topic_and_key():
    for moved in (EventType("test.thing.happened", 2, ThingV2, "elsewhere", "thing_id", "v2"),
                  EventType("test.thing.happened", 2, ThingV2, "t", "sequence", "v2")):
        with pytest.raises(ValueError, match="one topic and key"):
            Catalogue([EventType("test.thing.happened", 1, ThingV1, "t", "thing_id", "v1"), moved])


def test_v2_published_while_a_v1_consumer_runs(tmp_path, kafka_broker, new_topic):
    topic, bootstrap = new_topic(), kafka_broker.bootstrap_servers
    settings = KafkaSettings(bootstrap_servers=bootstrap)
    producer_db = support.make_database(f"sqlite:///{tmp_path}/producer.db")
    things = [uuid.uuid4() for _ in range(3)]

    def publish(catalogue: Catalogue, thing: uuid.UUID, n: int, version: int | None = None) -> str:
        outbox = Outbox("test", support.TABLES, catalogue)
        data = {"thing_id": thing, "seq" if (version or catalogue.current("test.thing.happened").version) == 1
                else "sequence": n}
        with producer_db.transaction() as session:
            return str(outbox.publish(session, "test.thing.happened", data, version=version))

    first = publish(versions(topic, readers_only=True), things[0], 1)        # phase 1: still v1
    second = publish(versions(topic), things[1], 2)                          # phase 2: v2
    third = publish(versions(topic), things[2], 3, version=1)                # v1 pinned by a caller
    relay = OutboxRelay("test", producer_db, support.TABLES, lambda: kafka.producer(settings, "test-relay"))
    wait_until_drained(relay)
    relay.close()

    def consume(catalogue: Catalogue, name: str) -> tuple[list[Outcome], list[tuple[str, int, int]]]:
        seen: list[tuple[str, int, int]] = []

        def handler(session, event: ReceivedEvent) -> None:  # one handler, branching on the version
            n = event.data["seq"] if event.entry.version == 1 else event.data["sequence"]
            seen.append((event.id, event.entry.version, n))

        group = f"g-{name}-{uuid.uuid4().hex[:6]}"
        consumer = EventConsumer(
            group_id=group, database=support.make_database(f"sqlite:///{tmp_path}/{name}.db"),
            tables=support.TABLES, catalogue=catalogue, handlers={"test.thing.happened": handler},
            consumer_factory=lambda: kafka.consumer(settings, group, name, session_timeout_ms=6000,
                                                    heartbeat_interval_ms=1000),
            producer_factory=lambda: kafka.producer(settings, f"{name}-dlt"), backoff_base=0.05)
        outcomes: list[Outcome] = []

        def read_three() -> bool:
            outcomes.extend(consumer.poll_once(timeout_ms=500))
            return len(outcomes) >= 3

        try:
            support.wait_for(read_three, 60, f"{name} to read three events")
        finally:
            consumer.close()
        return outcomes, seen

    outcomes, seen = consume(versions(topic, v2=False), "old")
    assert sorted(o.value for o in outcomes) == ["dead_lettered", "handled", "handled"]
    assert sorted(seen) == sorted([(first, 1, 1), (third, 1, 3)])
    dead = support.read_topic(bootstrap, topic + ".dlt", expected=1)
    assert len(dead) == 1 and json.loads(dead[0].value)["id"] == second
    headers = dict(dead[0].headers)
    assert headers["dlt-reason"] == b"unsupported-version"
    assert b"version 2" in headers["dlt-error"]

    outcomes, seen = consume(versions(topic), "new")
    assert outcomes == [Outcome.HANDLED] * 3
    assert sorted(seen) == sorted([(first, 1, 1), (second, 2, 2), (third, 1, 3)])
