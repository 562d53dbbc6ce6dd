"""adjustments.employer_response.recorded v2: the clinician is named by their clinician reference
alone. v1's clinician_id pattern also admitted a login id or an NHS number, so v1 is kept for
readers only (events of it may still be on the topic or its DLT) and publishers send v2.

Its one consumer, notifications, is driven on real Kafka with the consumer `worklink consume`
runs, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from worklink.events.asyncapi import asyncapi_document
from worklink.events.catalogue import EventSchemaError, UnknownEventType, to_json_types
from worklink.events.contracts import CATALOGUE
from worklink.events.contracts.adjustments import EmployerResponseRecordedV1
from worklink.events.envelope import CloudEvent
from worklink.messaging.consumer import Outcome
from worklink.messaging.topics import load_topics
from worklink.pseudonyms import clinician_reference
from worklink_notifications.models import Delivery
from tests.platform import support
from tests.services.notifications.support import (catalogue_on, consume, make_consumer,  # noqa: F401
                                                  notifications_db, send)

pytestmark = pytest.mark.timeout(300)

TYPE = "adjustments.employer_response.recorded"
REFERENCE = clinician_reference("ada@practice.example", "test-key")
NHS_NUMBER = "9434765919"


def answer(**overrides) -> dict:
    return {"response_id": uuid.uuid4(), "suggestion_id": uuid.uuid4(), "practice_id": uuid.uuid4(),
            "clinician_id": REFERENCE, "suggestion_version": 1, "outcome": "agreed",
            "items": [{"adjustment_id": "flexible_hours", "outcome": "agreed"}], "effective_from": None,
            "occurred_at": datetime.now(timezone.utc), **overrides}


def as_sent(version: int, data: dict) -> CloudEvent:
    """An event as a producer put it on the topic, whatever our publishers would now refuse."""
    data = to_json_types(data)
    return CloudEvent(type=TYPE, source="urn:worklink:adjustments", data=data, partitionkey=data["suggestion_id"],
                      dataschema=f"urn:worklink:event:{TYPE}:v{version}")


def test_publishers_send_v2_and_never_v1():
    event, entry = CATALOGUE.build(TYPE, answer(), source="urn:worklink:adjustments")
    assert entry.version == 2 and event.dataschema == f"urn:worklink:event:{TYPE}:v2"
    assert CATALOGUE.current(TYPE) is entry and CATALOGUE.superseded(CATALOGUE.get(TYPE, 1))
    with pytest.raises(UnknownEventType, match="readers only"):
        CATALOGUE.build(TYPE, answer(), source="urn:worklink:adjustments", version=1)
    # The AsyncAPI document: adjustments sends v2 only; v1 is described as read, no longer sent.
    doc = asyncapi_document(CATALOGUE, load_topics(), {"worklink.notifications": [TYPE]},
                            {"worklink.adjustments": [TYPE]})
    titles = {m["title"] for m in doc["components"]["messages"].values() if m["name"] == TYPE}
    assert titles == {f"{TYPE} v1 (no longer sent; still read)", f"{TYPE} v2"}
    sends = [name for name, op in doc["operations"].items()
             if op["action"] == "send" and "EmployerResponseRecorded" in name]
    assert sends == ["worklink.adjustments.send.AdjustmentsEmployerResponseRecordedV2"]


@pytest.mark.parametrize("clinician_id", [NHS_NUMBER, "ada@practice.example", "dr-ada", REFERENCE.upper(),
                                          REFERENCE[:-1], None])
def test_v2_names_the_clinician_by_reference_only(clinician_id):
    with pytest.raises(EventSchemaError) as refused:
        CATALOGUE.build(TYPE, answer(clinician_id=clinician_id), source="urn:worklink:adjustments")
    assert list(refused.value.messages) == ["clinician_id"]
    # What v1 let through: the reason it was superseded.
    if clinician_id in (NHS_NUMBER, "dr-ada"):
        assert EmployerResponseRecordedV1().validate(to_json_types(answer(clinician_id=clinician_id))) == {}


def test_notifications_reads_both_versions_and_dead_letters_a_v2_naming_a_person(
        notifications_db, kafka_broker, new_topic):
    topic, bootstrap = new_topic(), kafka_broker.bootstrap_servers
    old, new = as_sent(1, answer()), as_sent(2, answer())
    unnamed_v1 = as_sent(1, {k: v for k, v in answer().items() if k != "clinician_id"})  # optional in v1
    by_nhs_number = as_sent(2, answer(clinician_id=NHS_NUMBER))
    by_address = as_sent(2, answer(clinician_id="ada@practice.example"))
    v1_by_nhs_number = as_sent(1, answer(clinician_id=NHS_NUMBER))  # v1's pattern admits it; the guard does not
    send(bootstrap, topic, *(e.to_json().encode() for e in (old, new, unnamed_v1, by_nhs_number, by_address,
                                                            v1_by_nhs_number)))

    consumer = make_consumer(notifications_db, bootstrap, catalogue_on(topic))
    try:
        outcomes = consume(consumer, 6)
    finally:
        consumer.close()

    assert outcomes == [Outcome.HANDLED] * 3 + [Outcome.DEAD_LETTERED] * 3
    with notifications_db.sessions() as session:
        told = session.execute(sa.select(Delivery.event_id, Delivery.recipient_kind, Delivery.recipient_id)
                               .where(Delivery.channel == "inbox")).all()
    clinician = {(event_id, who) for event_id, kind, who in told if kind == "user"}
    assert clinician == {(old.id, REFERENCE), (new.id, REFERENCE)}  # v1 and v2 reach the clinician
    practices = {event_id for event_id, kind, _ in told if kind == "organisation"}
    assert practices == {old.id, new.id, unnamed_v1.id}  # and every answer its practice

    dead = support.read_topic(bootstrap, topic + ".dlt", expected=3)
    assert [json.loads(r.value)["id"] for r in dead] == [by_nhs_number.id, by_address.id, v1_by_nhs_number.id]
    for record in dead:
        headers = dict(record.headers)
        assert headers["dlt-reason"] == b"schema-invalid"
        assert b"clinician_id" in headers["dlt-error"]
        assert NHS_NUMBER.encode() not in headers["dlt-error"] and b"ada@" not in headers["dlt-error"]
