"""`worklink dlt`: listing dead letters and re-driving them, on the real Kafka broker."""

from __future__ import annotations

import dataclasses
import json
import socket
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner
from kafka import KafkaProducer

from worklink.cli import main
from worklink.events.envelope import CloudEvent, kafka_headers
from worklink.messaging.consumer import EventConsumer, Outcome, PermanentError, ReceivedEvent, dedup_key
from worklink.messaging.topics import load_topics
from tests.platform import support
from tests.events import consume

pytestmark = pytest.mark.timeout(300)
TRACEPARENT = "00-" + "a" * 32 + "-" + "b" * 16 + "-01"


def thing_event(topic: str, seq: int = 1) -> CloudEvent:
    event, _ = support.catalogue(topic).build(
        "test.thing.happened", {"thing_id": uuid.uuid4(), "seq": seq}, source="urn:worklink:test")
    return event


def send(bootstrap: str, topic: str, *values: bytes | None, headers=None) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for value in values:
        producer.send(topic, value=value, key=b"thing-key",
                      headers=headers or kafka_headers(TRACEPARENT, "corr-1")).get(30)
    producer.close()


def record_effect(session, event: ReceivedEvent) -> None:
    session.execute(support.effects.insert().values(
        event_id=event.id, thing_id=str(event.data["thing_id"]), seq=event.data["seq"]))


def make_consumer(database, bootstrap, topic, handler) -> EventConsumer:
    return support.make_consumer(database, bootstrap, topic, f"g-{uuid.uuid4().hex}", handler,
                                 max_attempts=2, backoff_base=0.01)


def dlt(bootstrap: str, *args: str, input: str | None = None):
    result = CliRunner().invoke(main, ["dlt", *args], env={"KAFKA_BOOTSTRAP_SERVERS": bootstrap},
                                input=input, catch_exceptions=False)
    return result


def listed(bootstrap: str, topic: str, *args: str) -> list[dict]:
    result = dlt(bootstrap, "list", topic, "--json", *args)
    assert result.exit_code == 0, result.output
    [entry] = json.loads(result.output)["topics"]
    return entry["shown"]


def test_a_failed_event_is_listed_without_its_data_and_handled_once_when_re_driven(
        database_url, kafka_broker, new_topic):
    bootstrap, topic = kafka_broker.bootstrap_servers, new_topic()
    database = support.make_database(database_url)
    fixed, calls = [], []

    def handler(session, event):
        calls.append(event.id)
        if not fixed:
            raise ValueError("bug in handler")
        record_effect(session, event)

    event = thing_event(topic, seq=41)
    send(bootstrap, topic, event.to_json().encode())
    consumer = make_consumer(database, bootstrap, topic, handler)
    try:
        assert consume(consumer, 1) == [Outcome.DEAD_LETTERED]

        text = dlt(bootstrap, "list", topic)
        assert text.exit_code == 0, text.output
        assert f"{topic}.dlt: 1 record (1 handler-failed)" in text.output
        [shown] = listed(bootstrap, topic)
        assert shown["position"] == "0:0" and shown["reason"] == "handler-failed"
        assert (shown["event_id"], shown["type"], shown["source"]) == (event.id, event.type, event.source)
        assert shown["error"] == "ValueError: bug in handler" and shown["redriven"] is False
        thing_id = str(event.data["thing_id"])
        assert thing_id not in text.output and thing_id not in json.dumps(shown)  # never the data

        fixed.append(True)
        redriven = dlt(bootstrap, "redrive", f"{topic}.dlt", "--yes")
        assert redriven.exit_code == 0, redriven.output
        assert "re-drove 1 record(s)" in redriven.output
        assert consume(consumer, 1) == [Outcome.HANDLED]
        assert support.count(database, support.effects) == 1
        assert support.count(database, support.TABLES.processed_events,
                             support.TABLES.processed_events.c.event_id == dedup_key(event.source, event.id)) == 1
        assert listed(bootstrap, topic)[0]["redriven"] is True

        again = dlt(bootstrap, "redrive", f"{topic}.dlt", "--yes")
        assert again.exit_code == 0, again.output
        assert "0 to re-drive, 1 already re-driven" in again.output
        records = support.read_topic(bootstrap, topic, expected=2)
        assert len(records) == 2  # the event and one re-driven copy, nothing more
        original, copy = records
        assert (copy.key, copy.value) == (original.key, original.value)
        headers = dict(copy.headers)
        assert headers["redriven-from"] == f"{topic}.dlt:0:0".encode() and headers["redrive-count"] == b"1"
        assert headers["traceparent"] == TRACEPARENT.encode()
        assert not [name for name in headers if name.startswith("dlt-")]

        # The same copy delivered once more (a plain redelivery) is a duplicate: no second effect.
        send(bootstrap, topic, copy.value, headers=copy.headers)
        assert consume(consumer, 1) == [Outcome.DUPLICATE]
    finally:
        consumer.close()
    assert support.count(database, support.effects) == 1
    assert calls == [event.id, event.id, event.id]  # two failed attempts, then once after the re-drive


def test_a_re_driven_record_that_fails_again_goes_back_to_the_dead_letter_topic(tmp_path, kafka_broker, new_topic):
    bootstrap, topic = kafka_broker.bootstrap_servers, new_topic()
    database = support.make_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    send(bootstrap, topic, b'{"specversion": "1.0", "id": ')
    consumer = make_consumer(database, bootstrap, topic, record_effect)
    try:
        assert consume(consumer, 1) == [Outcome.DEAD_LETTERED]
        result = dlt(bootstrap, "redrive", topic, "--yes")
        assert result.exit_code == 0, result.output
        assert consume(consumer, 1) == [Outcome.DEAD_LETTERED]
    finally:
        consumer.close()
    first, second = listed(bootstrap, topic)
    assert (first["position"], first["reason"], first["redriven"]) == ("0:0", "malformed", True)
    # 0:1 is the re-drive's receipt (test_deadletters_audit.py), which is no dead letter
    assert (second["position"], second["reason"], second["redriven"]) == ("0:2", "malformed", False)
    assert second["redrive_count"] == 1 and second["event_id"] is None
    assert "not valid JSON" in second["error"]
    assert len(support.read_topic(bootstrap, topic, expected=2)) == 2  # no loop: it waits in the DLT
    text = dlt(bootstrap, "list", topic).output
    assert "back after 1 re-drive(s)" in text


def test_dry_run_changes_nothing_and_reason_event_id_and_offset_select(tmp_path, kafka_broker, new_topic):
    bootstrap, topic = kafka_broker.bootstrap_servers, new_topic()
    database = support.make_database(f"sqlite:///{tmp_path / 'db.sqlite'}")

    def handler(session, event):
        if event.data["seq"] == 2:
            raise PermanentError("thing belongs to no organisation we know")
        raise ValueError("bug in handler")

    failing, rejected, failing_too = (thing_event(topic, seq) for seq in (1, 2, 3))
    send(bootstrap, topic, *(e.to_json().encode() for e in (failing, rejected, failing_too)), b"not json")
    consumer = make_consumer(database, bootstrap, topic, handler)
    try:
        assert consume(consumer, 4) == [Outcome.DEAD_LETTERED] * 4
    finally:
        consumer.close()
    assert [r["reason"] for r in listed(bootstrap, topic)] == [
        "handler-failed", "rejected", "handler-failed", "malformed"]
    assert [r["position"] for r in listed(bootstrap, topic, "--reason", "handler-failed", "--limit", "1")] == ["0:0"]

    dry = dlt(bootstrap, "redrive", f"{topic}.dlt", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert dry.output.count("would re-drive") == 4
    declined = dlt(bootstrap, "redrive", f"{topic}.dlt", input="n\n")
    assert declined.exit_code == 1
    unknown = dlt(bootstrap, "redrive", f"{topic}.dlt", "--event-id", "no-such-event", "--yes")
    assert unknown.exit_code == 1 and "no-such-event" in unknown.output
    assert len(support.read_topic(bootstrap, topic, expected=4)) == 4  # nothing published
    assert not any(r["redriven"] for r in listed(bootstrap, topic))

    def redriven_from() -> list[bytes]:
        records = support.read_topic(bootstrap, topic, expected=4)
        return [dict(r.headers)["redriven-from"] for r in records[4:]]

    by_id = dlt(bootstrap, "redrive", topic, "--reason", "handler-failed", "--event-id", failing_too.id, "--yes")
    assert by_id.exit_code == 0, by_id.output
    assert redriven_from() == [f"{topic}.dlt:0:2".encode()]
    by_offset = dlt(bootstrap, "redrive", topic, "--offset", "1", "--yes")
    assert by_offset.exit_code == 0, by_offset.output
    by_reason = dlt(bootstrap, "redrive", topic, "--reason", "handler-failed", "--yes")
    assert "1 to re-drive, 1 already re-driven" in by_reason.output
    assert redriven_from() == [f"{topic}.dlt:0:{n}".encode() for n in (2, 1, 0)]
    assert [r["redriven"] for r in listed(bootstrap, topic)] == [True, True, True, False]


def test_list_defaults_to_every_declared_dead_letter_topic(kafka_broker):
    result = dlt(kafka_broker.bootstrap_servers, "list")
    assert result.exit_code == 0, result.output
    declared = [spec.name for spec in load_topics() if spec.name.endswith(".dlt")]
    assert declared and [line.split(":")[0] for line in result.output.splitlines()
                         if not line.startswith(" ")] == declared


def test_groups_sharing_a_topic_get_one_copy_and_only_the_one_that_failed_handles_it(
        tmp_path, kafka_broker, new_topic):
    bootstrap, topic = kafka_broker.bootstrap_servers, new_topic()
    database = support.make_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    fixed = []

    def failing_until_fixed(session, event):
        if not fixed:
            raise ValueError("bug in handler")
        record_effect(session, event)

    event = thing_event(topic)
    send(bootstrap, topic, event.to_json().encode(), b"not json")
    handled_it = make_consumer(database, bootstrap, topic, record_effect)
    failed_it = make_consumer(database, bootstrap, topic, failing_until_fixed)
    try:
        assert consume(handled_it, 2) == [Outcome.HANDLED, Outcome.DEAD_LETTERED]
        assert consume(failed_it, 2) == [Outcome.DEAD_LETTERED, Outcome.DEAD_LETTERED]
        # dead letters: 0:0 the malformed record (first group), 0:1 the event, 0:2 the malformed record again
        fixed.append(True)
        result = dlt(bootstrap, "redrive", topic, "--yes")
        assert result.exit_code == 0, result.output
        assert "2 to re-drive, 0 already re-driven, 1 dead-lettered by another group too (sent once)" in result.output
        # copies in dead-letter order: the malformed record, then the event
        assert consume(handled_it, 2) == [Outcome.DEAD_LETTERED, Outcome.DUPLICATE]
        assert consume(failed_it, 2) == [Outcome.DEAD_LETTERED, Outcome.HANDLED]
    finally:
        handled_it.close()
        failed_it.close()
    assert support.count(database, support.effects, support.effects.c.event_id == event.id) == 2  # one per group
    assert len(support.read_topic(bootstrap, topic, expected=4)) == 4
    assert [(r["reason"], r["redriven"]) for r in listed(bootstrap, topic)] == [
        ("malformed", True), ("handler-failed", True), ("malformed", True),
        ("malformed", False), ("malformed", False)]  # the copy, dead-lettered again by each group


def test_a_bare_offset_must_name_one_partition_s_dead_letter(kafka_broker, new_topic):
    bootstrap, topic = kafka_broker.bootstrap_servers, new_topic(partitions=2)
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for partition in (0, 1):  # a dead letter at offset 0 of each partition
        producer.send(f"{topic}.dlt", value=b"not json", partition=partition,
                      headers=[("dlt-reason", b"malformed")]).get(30)
    producer.send(f"{topic}.dlt", value=b"not json", partition=1, headers=[("dlt-reason", b"malformed")]).get(30)
    producer.close()

    ambiguous = dlt(bootstrap, "redrive", topic, "--offset", "0", "--dry-run")
    assert ambiguous.exit_code == 2 and "0:0, 1:0" in ambiguous.output
    assert dlt(bootstrap, "redrive", topic, "--offset", "one", "--dry-run").exit_code == 2
    named = dlt(bootstrap, "redrive", topic, "--offset", "1:0", "--offset", "1", "--dry-run")
    assert named.exit_code == 0, named.output
    assert [line.split()[2] for line in named.output.splitlines() if "would re-drive" in line] == ["1:0", "1:1"]


def test_an_unreachable_broker_is_an_error_message_not_a_traceback():
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        nobody = f"127.0.0.1:{unused.getsockname()[1]}"
    result = dlt(nobody, "list", "referrals.referral")
    assert result.exit_code == 1 and "is the broker up?" in result.output


def test_an_event_older_than_its_consumers_remember_is_not_re_driven(tmp_path, kafka_broker, new_topic):
    bootstrap, topic = kafka_broker.bootstrap_servers, new_topic()
    database = support.make_database(f"sqlite:///{tmp_path / 'db.sqlite'}")

    def broken(session, event):
        raise ValueError("bug in handler")

    recent = thing_event(topic)
    # Published 30 days ago (re-driven and failed since, say): a group that handled it then
    # forgets its id after the dedup window (31 days for a topic deploy/topics.toml does not declare).
    old = dataclasses.replace(thing_event(topic), time=datetime.now(timezone.utc) - timedelta(days=30, hours=1))
    send(bootstrap, topic, old.to_json().encode(), recent.to_json().encode())
    consumer = make_consumer(database, bootstrap, topic, broken)
    try:
        assert consume(consumer, 2) == [Outcome.DEAD_LETTERED] * 2
    finally:
        consumer.close()
    shown = listed(bootstrap, topic)
    assert datetime.fromisoformat(shown[0]["redrive_by"]) < datetime.now(timezone.utc)
    assert datetime.fromisoformat(shown[1]["redrive_by"]) > datetime.now(timezone.utc) + timedelta(days=29)

    result = dlt(bootstrap, "redrive", topic, "--yes")
    assert result.exit_code == 0, result.output
    assert "1 to re-drive" in result.output and f"not re-driving 0:0  event {old.id}: too old" in result.output
    copies = support.read_topic(bootstrap, topic, expected=3)[2:]
    assert [json.loads(r.value)["id"] for r in copies] == [recent.id]


def test_a_record_s_own_headers_cannot_pass_it_off_as_a_receipt_or_a_re_driven_copy(tmp_path, kafka_broker, new_topic):
    """Whoever may write a topic chooses its records' headers, and a consumer keeps them on the dead letter it
    writes. A record wearing a receipt's header was taken for a receipt on the dead-letter topic: hidden from
    `list` and `redrive`, its value - a forged receipt - shown as an operator's re-drive of another dead letter.
    One wearing `redriven-from` marked a genuine dead letter as re-driven, so `redrive` never sent it."""
    bootstrap, topic = kafka_broker.bootstrap_servers, new_topic()
    database = support.make_database(f"sqlite:///{tmp_path / 'db.sqlite'}")

    def refuse_the_first(session, event):
        if event.data["seq"] == 1:
            raise PermanentError("refused")
        record_effect(session, event)

    send(bootstrap, topic, thing_event(topic, seq=1).to_json().encode())  # dead-lettered at 0:0
    forged_receipt = {"action": "dlt-redrive", "run": "f" * 32, "at": "2026-01-01T00:00:00+00:00",
                      "operator": "alice", "kafka_principal": "User:operator", "host": "ops",
                      "dead_letter_topic": f"{topic}.dlt", "topic": topic, "records": [{"position": "0:0"}]}
    send(bootstrap, topic, json.dumps(forged_receipt).encode(),  # malformed: dead-lettered at 0:1
         headers=[("worklink-audit", b"dlt-redrive"), ("content-type", b"application/json")])
    send(bootstrap, topic, thing_event(topic, seq=2).to_json().encode(),  # handled, but claims to be 0:0's copy
         headers=kafka_headers(TRACEPARENT, "corr-1") + [("redriven-from", f"{topic}.dlt:0:0".encode()),
                                                          ("redrive-count", b"1"), ("redrive-run", b"f" * 32)])
    consumer = make_consumer(database, bootstrap, topic, refuse_the_first)
    try:
        assert consume(consumer, 3) == [Outcome.DEAD_LETTERED, Outcome.DEAD_LETTERED, Outcome.HANDLED]
    finally:
        consumer.close()

    genuine, forged = listed(bootstrap, topic)
    assert (genuine["position"], genuine["reason"], genuine["redriven"], genuine["redrives"]) == (
        "0:0", "rejected", False, [])
    assert (forged["position"], forged["reason"]) == ("0:1", "malformed")
    [dead_letter] = support.read_topic(bootstrap, f"{topic}.dlt", expected=2)[1:]
    assert "worklink-audit" not in dict(dead_letter.headers)
    result = dlt(bootstrap, "redrive", topic, "--reason", "rejected", "--yes")
    assert result.exit_code == 0, result.output
    assert "re-drove 1 record(s)" in result.output
