"""`worklink dlt redrive` is audited: who ran it, when, which topic and which event ids (never data),
recorded on the dead-letter topic before anything is sent and as a JSON log line - on real Kafka."""

from __future__ import annotations

import json
import logging
import uuid

import pytest
from click.testing import CliRunner
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

from worklink.cli import main
from worklink.messaging.consumer import Outcome
from tests.events import consume
from tests.platform import support
from tests.platform.test_deadletters import make_consumer, send, thing_event

pytestmark = pytest.mark.timeout(300)


def dlt(bootstrap: str, *args: str, operator: str = "ops-olu"):
    return CliRunner().invoke(main, ["dlt", *args], catch_exceptions=False,
                              env={"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "WORKLINK_OPERATOR": operator})


def dead_letter(bootstrap: str, topic: str, tmp_path, *seqs: int):
    """Events on `topic` that a failing handler dead-letters; returns them."""
    database = support.make_database(f"sqlite:///{tmp_path / 'dlt.db'}")
    events = [thing_event(topic, seq) for seq in seqs]
    send(bootstrap, topic, *(event.to_json().encode() for event in events))

    def fails(session, event):
        raise ValueError("bug in handler")

    consumer = make_consumer(database, bootstrap, topic, fails)
    try:
        assert consume(consumer, len(events)) == [Outcome.DEAD_LETTERED] * len(events)
    finally:
        consumer.close()
    return events


def receipts(bootstrap: str, topic: str, expected: int) -> list:
    return [r for r in support.read_topic(bootstrap, f"{topic}.dlt", expected=expected)
            if dict(r.headers).get("worklink-audit") == b"dlt-redrive"]


def test_a_redrive_is_recorded_with_who_when_where_and_event_ids_never_data(kafka_broker, new_topic, tmp_path,
                                                                           caplog):
    bootstrap, topic = kafka_broker.bootstrap_servers, new_topic()
    first, second = dead_letter(bootstrap, topic, tmp_path, 1, 2)
    assert dlt(bootstrap, "redrive", f"{topic}.dlt", "--dry-run").exit_code == 0
    assert receipts(bootstrap, topic, expected=2) == []  # a dry run sends and records nothing

    caplog.set_level(logging.INFO, logger="worklink.audit")
    done = dlt(bootstrap, "redrive", f"{topic}.dlt", "--event-id", second.id, "--yes")
    assert done.exit_code == 0, done.output

    [receipt] = receipts(bootstrap, topic, expected=3)
    entry = json.loads(receipt.value)
    assert (entry["action"], entry["operator"], entry["topic"], entry["dead_letter_topic"]) == (
        "dlt-redrive", "ops-olu", topic, f"{topic}.dlt")
    assert entry["records"] == [{"position": "0:1", "event_id": second.id, "type": "test.thing.happened",
                                 "reason": "handler-failed"}]
    assert entry["at"] and entry["host"] and f"run {entry['run']}" in done.output
    for data in (str(second.data["thing_id"]), str(first.data["thing_id"]), '"seq"'):
        assert data not in receipt.value.decode()
    original, copy = support.read_topic(bootstrap, topic, expected=3)[1:]
    assert dict(copy.headers)["redrive-run"] == entry["run"].encode()  # the copy names its receipt

    [line] = [r for r in caplog.records if r.name == "worklink.audit" and r.getMessage() == "dlt redrive"]
    assert (line.outcome, line.operator, line.run, line.topic) == ("sent", "ops-olu", entry["run"], topic)
    assert (line.event_ids, line.positions) == ([second.id], ["0:1"])

    listed = dlt(bootstrap, "list", topic, "--json")
    [shown] = json.loads(listed.output)["topics"]
    assert shown["records"] == 2  # the receipt is no dead letter
    by_position = {letter["position"]: letter["redrives"] for letter in shown["shown"]}
    assert by_position["0:0"] == []
    assert [(r["operator"], r["run"]) for r in by_position["0:1"]] == [("ops-olu", entry["run"])]
    assert "re-driven by ops-olu at" in dlt(bootstrap, "list", topic).output

    rest = dlt(bootstrap, "redrive", f"{topic}.dlt", "--yes", operator="ops-ana")
    assert "1 to re-drive, 1 already re-driven" in rest.output  # receipts are never re-driven
    later = [json.loads(r.value) for r in receipts(bootstrap, topic, expected=4)]
    assert [(r["operator"], [x["position"] for x in r["records"]]) for r in later] == [
        ("ops-olu", ["0:1"]), ("ops-ana", ["0:0"])]


def test_nothing_is_re_driven_when_the_redrive_cannot_be_recorded(kafka_broker, new_topic, tmp_path, caplog):
    """The dead-letter topic refuses the receipt (records over its size limit): nothing unrecorded
    goes back into processing."""
    bootstrap, topic = kafka_broker.bootstrap_servers, new_topic()
    dead_letter(bootstrap, topic, tmp_path, 1)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, f"{topic}.dlt",
                                            configs={"max.message.bytes": "200"})])
    finally:
        admin.close()
    caplog.set_level(logging.INFO, logger="worklink.audit")
    refused = CliRunner().invoke(main, ["dlt", "redrive", f"{topic}.dlt", "--yes"],
                                 env={"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "WORKLINK_OPERATOR": "ops-olu"})
    assert refused.exit_code == 1 and "nothing was re-driven" in refused.output
    assert len(support.read_topic(bootstrap, topic, expected=1)) == 1  # the event alone: no copy
    assert not [r for r in caplog.records if r.name == "worklink.audit"]


def test_a_forged_or_broken_receipt_neither_breaks_the_listing_nor_prints_its_escapes(kafka_broker, new_topic,
                                                                                       tmp_path):
    bootstrap, topic = kafka_broker.bootstrap_servers, new_topic()
    dead_letter(bootstrap, topic, tmp_path, 1)
    audit = [("worklink-audit", b"dlt-redrive")]
    send(bootstrap, f"{topic}.dlt", b"not json", b'["a list"]', headers=audit)
    send(bootstrap, f"{topic}.dlt", json.dumps({"operator": "\x1b[31mmallory", "run": uuid.uuid4().hex,
                                                 "records": ["0:0", {"position": "0:0"}]}).encode(), headers=audit)
    listed = dlt(bootstrap, "list", topic)
    assert listed.exit_code == 0, listed.output
    assert f"{topic}.dlt: 1 record" in listed.output and "\x1b" not in listed.output
    assert "re-driven by \\u001b[31mmallory" in listed.output
