"""CloudEvents 1.0 conformance of what the relay puts on Kafka (spec 1.0.2, its JSON format and
Kafka protocol binding, the Partitioning extension), and what consumers accept."""

from __future__ import annotations

import json
import re
import uuid

import pytest

from worklink.config import KafkaSettings
from worklink.events.contracts import CATALOGUE
from worklink.events.envelope import CloudEvent, EnvelopeError
from worklink.messaging import kafka
from worklink.messaging.outbox import Outbox, OutboxRelay, wait_until_drained
from tests.platform import support

pytestmark = pytest.mark.timeout(300)

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")  # absolute URI: scheme, then no whitespace
ATTRIBUTE_NAME = re.compile(r"^[a-z0-9]{1,20}$")  # spec 1.0.2 "Attribute Naming Convention"


def test_what_the_relay_puts_on_kafka_is_a_structured_mode_cloudevent(tmp_path, kafka_broker, new_topic):
    topic = new_topic()
    database = support.make_database(f"sqlite:///{tmp_path}/ce.db")
    thing = uuid.uuid4()
    with database.transaction() as session:
        event_id = Outbox("test", support.TABLES, support.catalogue(topic)).publish(
            session, "test.thing.happened", {"thing_id": thing, "seq": 1}, subject="thing")
    relay = OutboxRelay("test", database, support.TABLES,
                        lambda: kafka.producer(KafkaSettings(kafka_broker.bootstrap_servers), "test-relay"))
    wait_until_drained(relay)
    relay.close()

    [record] = support.read_topic(kafka_broker.bootstrap_servers, topic, expected=1)
    headers = dict(record.headers)
    assert headers["content-type"] == b"application/cloudevents+json; charset=UTF-8"  # structured mode
    assert not [name for name in headers if name.startswith("ce_")]  # attributes only in the value
    body = json.loads(record.value.decode("utf-8"))
    assert body["specversion"] == "1.0"
    assert body["id"] == str(event_id) and uuid.UUID(body["id"])
    assert body["type"] == "test.thing.happened"
    assert URI.match(body["source"]) and body["source"] == "urn:worklink:test"
    assert RFC3339.match(body["time"]) and body["time"].endswith("Z")
    assert body["datacontenttype"] == "application/json"
    assert URI.match(body["dataschema"]) and body["dataschema"] == "urn:worklink:event:test.thing.happened:v1"
    assert body["subject"] == "thing"
    # Key mapping: our key is the aggregate id, carried as the Partitioning extension's
    # partitionkey too, so a CloudEvents key mapper forwarding the event keys it the same way.
    assert record.key == str(thing).encode() == body["partitionkey"].encode()
    assert body["data"] == {"thing_id": str(thing), "seq": 1}
    for name, value in body.items():
        assert ATTRIBUTE_NAME.match(name), name
        assert name == "data" or isinstance(value, str), name  # context attributes are JSON strings


def test_every_partition_key_is_a_required_id():
    """The key orders one aggregate's events and is readable by anyone on the topic: an id,
    always present (an absent one would key every such event "None", on one partition)."""
    from marshmallow import fields

    for entry in CATALOGUE:
        field = entry.schema().fields[entry.key]
        assert isinstance(field, fields.UUID) and field.required and not field.allow_none, entry.type


def test_one_aggregate_has_one_key_however_its_id_is_written():
    """marshmallow's UUID field takes an upper-case id too; the key was the id as written, so
    one aggregate's events could hash to two partitions and overtake each other."""
    outbox = Outbox("test", support.TABLES, support.catalogue("t"))
    thing = uuid.uuid4()
    rows = [outbox.row("test.thing.happened", {"thing_id": written, "seq": 1})
            for written in (thing, str(thing), str(thing).upper(), "{" + str(thing) + "}")]
    assert {row["aggregateid"] for row in rows} == {str(thing)}
    assert {json.loads(row["payload"])["partitionkey"] for row in rows} == {str(thing)}


def test_a_naive_time_in_data_is_sent_as_utc():
    """A naive datetime (as SQLite returns a stored UTC time) went out with no offset: not an RFC
    3339 date-time, and read back naive by every consumer."""
    from datetime import datetime

    event, _ = CATALOGUE.build("directory.service.withdrawn", {
        "service_id": uuid.uuid4(), "organization_id": uuid.uuid4(), "reason": "closed",
        "withdrawn_at": datetime(2026, 11, 25, 9, 30)}, source="urn:worklink:directory")
    assert event.data["withdrawn_at"] == "2026-11-25T09:30:00Z"
    assert CATALOGUE.load(event)[1]["withdrawn_at"].utcoffset() is not None


def _body(**changes) -> dict:
    event, _ = CATALOGUE.build("directory.service.withdrawn", {
        "service_id": uuid.uuid4(), "organization_id": uuid.uuid4(), "reason": "closed",
        "withdrawn_at": "2026-11-25T09:30:00Z"}, source="urn:worklink:directory")
    body = event.to_dict() | changes
    return {k: v for k, v in body.items() if v is not None}


@pytest.mark.parametrize("time", ["2026-11-25", "2026-11-25T09:30:00", "2026-11-25 09:30:00Z",
                                  "2026-13-25T09:30:00Z", "2026-11-25T09:30:60Z", "yesterday"])
def test_a_time_that_is_not_rfc_3339_is_refused(time):
    """A bare date or a time with no offset parsed as a naive datetime, which a handler
    comparing it with an aware one fails on, retried and dead-lettered as a handler failure."""
    with pytest.raises(EnvelopeError, match="RFC 3339"):
        CloudEvent.from_dict(_body(time=time))


@pytest.mark.parametrize("time", ["2026-11-25T09:30:00Z", "2026-11-25t09:30:00.123456z",
                                  "2026-11-25T10:30:00.5+01:00"])
def test_rfc_3339_times_are_read_with_their_offset(time):
    parsed = CloudEvent.from_dict(_body(time=time)).time
    assert parsed.utcoffset() is not None


@pytest.mark.parametrize("name", ["id", "source", "type", "dataschema", "subject", "time", "partitionkey"])
def test_context_attributes_must_be_strings(name):
    """An id of 0 read as missing and an id of 7 as "7"; a subject could be an object."""
    with pytest.raises(EnvelopeError, match="must be strings"):
        CloudEvent.from_dict(_body(**{name: 7}))


def test_a_null_attribute_is_absent():
    """The JSON format treats a null attribute as absent: a null subject is no subject, a null
    id is a missing id."""
    assert CloudEvent.from_dict(_body() | {"subject": None, "partitionkey": None}).subject is None
    with pytest.raises(EnvelopeError, match="missing required CloudEvents attributes: id"):
        CloudEvent.from_dict(_body() | {"id": None})


def test_data_must_be_json():
    with pytest.raises(EnvelopeError, match="not JSON"):
        CloudEvent.from_dict(_body(datacontenttype="application/xml"))
    for fine in ("application/json; charset=utf-8", "application/vnd.worklink+json"):
        assert CloudEvent.from_dict(_body(datacontenttype=fine)).datacontenttype == fine


def test_unknown_extension_attributes_and_data_fields_are_ignored():
    body = _body(comexampleext="x", traceparent="00-" + "a" * 32 + "-" + "b" * 16 + "-01")
    body["data"] = body["data"] | {"added_later": {"any": ["shape"]}}
    event = CloudEvent.from_json(json.dumps(body))
    entry, data = CATALOGUE.load(event)
    assert entry.type == "directory.service.withdrawn" and "added_later" not in data
    assert event.partitionkey == body["partitionkey"]


def _send(bootstrap: str, topic: str, value: bytes, headers: list[tuple[str, bytes]], key: bytes = b"k") -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    producer.send(topic, key=key, value=value, headers=headers).get(30)
    producer.close()


def test_the_consumer_reads_the_content_mode_the_record_names(tmp_path, kafka_broker, new_topic):
    """Kafka binding 3: the content-type header says the mode. A binary-mode event (attributes in
    ce_ headers, data alone in the value) was parsed as if structured and dead-lettered as
    'missing required attributes'; an event format we cannot read, or a batch, is dead-lettered
    saying so."""
    from worklink.messaging.consumer import EventConsumer, Outcome

    topic, bootstrap = new_topic(), kafka_broker.bootstrap_servers
    settings = KafkaSettings(bootstrap_servers=bootstrap)
    thing = uuid.uuid4()
    binary_headers = [("ce_specversion", b"1.0"), ("ce_id", b"binary-1"), ("ce_source", b"/elsewhere"),
                      ("ce_type", b"test.thing.happened"), ("ce_time", b"2026-11-25T09:30:00Z"),
                      ("ce_dataschema", b"urn:worklink:event:test.thing.happened:v1"),
                      ("ce_partitionkey", str(thing).encode()), ("content-type", b"application/json"),
                      ("traceparent", b"00-" + b"a" * 32 + b"-" + b"b" * 16 + b"-01")]
    _send(bootstrap, topic, json.dumps({"thing_id": str(thing), "seq": 5}).encode(), binary_headers)
    structured = json.dumps({"specversion": "1.0", "id": "s-1", "source": "/x", "type": "test.thing.happened",
                             "dataschema": "urn:worklink:event:test.thing.happened:v1",
                             "data": {"thing_id": str(thing), "seq": 6}}).encode()
    _send(bootstrap, topic, structured, [("content-type", b"application/cloudevents+avro")])
    _send(bootstrap, topic, b"[" + structured + b"]", [("content-type", b"application/cloudevents-batch+json")])
    _send(bootstrap, topic, structured, [("content-type", b"Application/CloudEvents+JSON")])

    database = support.make_database(f"sqlite:///{tmp_path}/modes.db")
    seen = []
    group = f"g-{uuid.uuid4().hex[:8]}"
    consumer = EventConsumer(
        group_id=group, database=database, tables=support.TABLES, catalogue=support.catalogue(topic),
        handlers={"test.thing.happened": lambda session, event: seen.append((event.id, event.data["seq"]))},
        consumer_factory=lambda: kafka.consumer(settings, group, "modes", session_timeout_ms=6000,
                                                heartbeat_interval_ms=1000),
        producer_factory=lambda: kafka.producer(settings, "modes-dlt"), backoff_base=0.05)
    outcomes = []

    def read_four() -> bool:
        outcomes.extend(consumer.poll_once(timeout_ms=500))
        return len(outcomes) >= 4

    try:
        support.wait_for(read_four, 60, "four records")
    finally:
        consumer.close()
    assert outcomes == [Outcome.HANDLED, Outcome.DEAD_LETTERED, Outcome.DEAD_LETTERED, Outcome.HANDLED]
    assert seen == [("binary-1", 5), ("s-1", 6)]
    dead = support.read_topic(bootstrap, topic + ".dlt", expected=2)
    errors = [dict(r.headers)["dlt-error"].decode() for r in dead]
    assert "application/cloudevents+avro" in errors[0] and "batch" in errors[1]
    assert [dict(r.headers)["dlt-reason"] for r in dead] == [b"malformed", b"malformed"]


def test_binary_mode_attributes_obey_the_same_rules():
    headers = [("ce_specversion", b"1.0"), ("ce_id", b"b-1"), ("ce_source", b"/x"), ("ce_type", b"t.x"),
               ("ce_dataschema", b"urn:worklink:event:t.x:v1"), ("content-type", b"application/json")]
    event = CloudEvent.from_kafka(b'{"a": 1}', headers)
    assert (event.id, event.type, event.data, event.datacontenttype) == ("b-1", "t.x", {"a": 1}, "application/json")
    with pytest.raises(EnvelopeError, match="RFC 3339"):
        CloudEvent.from_kafka(b'{"a": 1}', headers + [("ce_time", b"2026-11-25")])
    with pytest.raises(EnvelopeError, match="missing required CloudEvents attributes: id"):
        CloudEvent.from_kafka(b'{"a": 1}', [h for h in headers if h[0] != "ce_id"])
    with pytest.raises(EnvelopeError, match="UTF-8"):
        CloudEvent.from_kafka(b'{"a": 1}', headers + [("ce_subject", b"\xff")])
    with pytest.raises(EnvelopeError, match="not JSON"):
        CloudEvent.from_kafka(b"<a/>", [h for h in headers if h[0] != "content-type"] + [("content-type", b"application/xml")])
    # No content-type and no ce_ headers: a structured event as our relay has always sent.
    structured = json.dumps(_body()).encode()
    assert CloudEvent.from_kafka(structured, []).type == "directory.service.withdrawn"


def test_a_dead_lettered_binary_mode_event_is_known_to_worklink_dlt():
    """Consumers handle binary-mode events, so one can be dead-lettered and re-driven: `worklink dlt`
    must see its id and time, or it listed no event and let a re-drive past the consumers' dedup
    window (an event with no time is never too old), so the event could be handled twice."""
    from datetime import datetime, timedelta, timezone

    from worklink.messaging.deadletters import DeadLetter, DeadLetterTopic

    headers = (("ce_specversion", b"1.0"), ("ce_id", b"b-7"), ("ce_source", b"/x"), ("ce_type", b"t.x"),
               ("ce_time", b"2026-01-02T03:04:05Z"), ("ce_dataschema", b"urn:worklink:event:t.x:v1"),
               ("content-type", b"application/json"), ("dlt-reason", b"handler-failed"))
    letter = DeadLetter("t.dlt", 0, 0, 0, b"k", b'{"a": 1}', headers)
    assert letter.event_id == "b-7"
    assert letter.event_time == datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    topic = DeadLetterTopic("t.dlt", [letter], set(), timedelta(days=15))
    assert topic.too_old(letter, now=datetime(2026, 3, 1, tzinfo=timezone.utc))
