"""The person-notification contract: restricted, on its own short-lived topic, ids + route + code only."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest

from worklink.events.catalogue import EventSchemaError
from worklink.events.contracts import CATALOGUE
from worklink.messaging.topics import load_topics
from worklink_notifications.events import PERSON_MESSAGE


def valid(**overrides) -> dict:
    return {"message_id": uuid.uuid4(), "person_id": uuid.uuid4(), "consent_id": uuid.uuid4(),
            "message_code": "referral_accepted", "contact": {"channel": "email", "address": "sam@example.org"},
            "requested_at": datetime.now(timezone.utc), **overrides}


def test_the_person_message_travels_restricted_to_notifications_only_for_three_days():
    entry = CATALOGUE.latest(PERSON_MESSAGE)
    assert entry.restricted and entry.key == "person_id"
    [topic] = [t for t in load_topics() if t.name == entry.topic]
    assert topic.restricted and topic.reader == "worklink.notifications"
    assert topic.retention_ms == 3 * 24 * 3600 * 1000
    [dlt] = [t for t in load_topics() if t.name == entry.topic + ".dlt"]
    assert dlt.retention_ms <= 7 * 24 * 3600 * 1000


def test_it_carries_only_the_consented_route_and_a_code():
    CATALOGUE.build(PERSON_MESSAGE, valid(), source="urn:worklink:referrals")
    for extra in ({"name": "Sam Example"}, {"nhs_number": "9434765919"}, {"message": "Your diagnosis..."}):
        with pytest.raises(EventSchemaError):
            CATALOGUE.build(PERSON_MESSAGE, valid(**extra), source="urn:worklink:referrals")
    with pytest.raises(EventSchemaError):  # a code, never free text
        CATALOGUE.build(PERSON_MESSAGE, valid(message_code="Please call us about your test results"),
                        source="urn:worklink:referrals")
    with pytest.raises(EventSchemaError):  # email is the only route v1 knows
        CATALOGUE.build(PERSON_MESSAGE, valid(contact={"channel": "post", "address": "sam@example.org"}),
                        source="urn:worklink:referrals")
