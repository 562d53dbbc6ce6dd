"""The AsyncAPI 3.0 document (`worklink asyncapi`): valid against the AsyncAPI 3.0.0 JSON Schema
(vendored from @asyncapi/specs), and true to the catalogue, the topics and the services."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from functools import cache
from pathlib import Path

import jsonschema
import pytest

import worklink.events
from worklink.events.asyncapi import asyncapi_document
from worklink.events.contracts import CATALOGUE
from worklink.messaging.consumer import dlt_topic
from worklink.messaging.topics import load_topics
from worklink.service import installed_services

SCHEMA = Path(worklink.events.__file__).with_name("asyncapi-3.0.0.schema.json")


@cache
def document() -> dict:
    """What `worklink asyncapi` prints: every installed service's consumer group and handlers."""
    services = installed_services().values()
    consumers = {spec.group_id: list(spec.handlers) for spec in services}
    return json.loads(json.dumps(asyncapi_document(CATALOGUE, load_topics(), consumers)))


def test_the_document_is_valid_asyncapi_3():
    validator = jsonschema.Draft7Validator(json.loads(SCHEMA.read_text()))
    assert [f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator.iter_errors(document())] == []
    # The schema bites: an AsyncAPI 2 style action is refused.
    broken = json.loads(json.dumps(document()))
    next(iter(broken["operations"].values()))["action"] = "publish"
    assert not validator.is_valid(broken)


def test_every_reference_resolves():
    def refs(node):
        if isinstance(node, dict):
            yield from ([node["$ref"]] if "$ref" in node else [])
            for value in node.values():
                yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    doc = document()
    for ref in set(refs(doc)):
        target = doc
        for part in ref.removeprefix("#/").split("/"):
            assert part in target, ref
            target = target[part]


def test_senders_are_the_services_that_publish():
    """The person messages are addressed to notifications but sent by referrals: the document
    named the service of the type's prefix as the sender."""
    sends = {(op_id.split(".send.")[0], op["messages"][0]["$ref"].rsplit("/", 1)[-1])
             for op_id, op in document()["operations"].items() if op["action"] == "send"}
    assert ("referrals", "NotificationsPersonMessageRequestedV1") in sends
    assert [pair for pair in sends if pair[0] == "notifications"] == [
        ("notifications", "NotificationsUserSessionsEndedV1")]  # its own pages' sign-out everywhere only
    published = {(name, t) for name, spec in installed_services().items() for t in spec.publishes}
    assert {(service, message) for service, message in sends} == {
        (service, _message_of(t)) for service, t in published}


def _message_of(event_type: str) -> str:
    return next(name for name, m in document()["components"]["messages"].items()
                if m["name"] == event_type and m["payload"]["properties"]["dataschema"]["const"]
                == CATALOGUE.current(event_type).dataschema)


def test_every_topic_and_its_dead_letter_topic_is_a_channel_with_its_retention():
    channels = {c["address"]: c for c in document()["channels"].values()}
    for spec in load_topics():
        assert spec.name in channels, spec.name
        config = channels[spec.name]["bindings"]["kafka"]["topicConfiguration"]
        assert config["retention.ms"] == spec.retention_ms
        assert config.get("segment.ms") == spec.segment_ms
        assert channels[spec.name].get("x-restricted", False) == spec.restricted
        assert channels[spec.name].get("x-reader") == spec.reader
    assert set(channels) == {spec.name for spec in load_topics()}
    for topic in {entry.topic for entry in CATALOGUE}:
        assert channels[dlt_topic(topic)]["messages"].keys() == channels[topic]["messages"].keys()


def test_every_version_is_a_message_keyed_by_its_aggregate_id():
    messages = document()["components"]["messages"]
    described = {(m["name"], m["payload"]["properties"]["dataschema"]["const"]) for m in messages.values()}
    assert described == {(entry.type, entry.dataschema) for entry in CATALOGUE}
    for entry in CATALOGUE:
        [message] = [m for m in messages.values()
                     if m["payload"]["properties"]["dataschema"]["const"] == entry.dataschema]
        assert message["bindings"]["kafka"]["key"]["description"] == f"data.{entry.key}"
        assert message["x-restricted"] == entry.restricted


@pytest.mark.parametrize("event_type, data", [
    ("directory.service.review_due", {"service_id": uuid.uuid4(), "organization_id": uuid.uuid4(),
                                      "last_assured_at": None, "due_since": datetime.now(timezone.utc)}),
    ("referrals.referral.submitted", {
        "referral_id": uuid.uuid4(), "status": "requested", "business_status": None, "reason": None,
        "referrer_org_id": uuid.uuid4(), "assigned_org_id": None, "service_id": None, "request_id": None,
        "suggestion_id": None, "version": 1, "occurred_at": datetime.now(timezone.utc)}),
])
def test_what_is_sent_matches_its_message_in_the_document(event_type, data):
    """The data schemas were OpenAPI 3.0 (`nullable: true`), which AsyncAPI's JSON Schema does
    not know: a null the catalogue allows and publishers send was invalid by the document."""
    event, entry = CATALOGUE.build(event_type, data, source="urn:worklink:test")
    doc = document()
    message = _message_of(event_type)
    validator = jsonschema.Draft7Validator({**doc, "$ref": f"#/components/messages/{message}/payload"})
    assert [e.message for e in validator.iter_errors(event.to_dict())] == []
