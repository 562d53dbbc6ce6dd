"""adjustments.referral_request.unanswered v1: broadcast on adjustments.suggestion for operations, ids and times
only, the clinician named by their clinician reference alone (never a login id or an NHS number)."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest

from worklink.events.catalogue import EventSchemaError, broadcast_violations
from worklink.events.contracts import CATALOGUE
from worklink.pseudonyms import clinician_reference
from worklink_adjustments.events import PUBLISHES

TYPE = "adjustments.referral_request.unanswered"
REFERENCE = clinician_reference("ada@practice.example", "test-key")


def unanswered(**overrides) -> dict:
    now = datetime.now(timezone.utc)
    return {"request_id": uuid.uuid4(), "suggestion_id": uuid.uuid4(), "practice_id": uuid.uuid4(),
            "clinician_id": REFERENCE, "requested_at": now, "occurred_at": now, **overrides}


def test_it_is_a_broadcast_on_the_suggestion_topic_keyed_by_the_suggestion():
    data = unanswered()
    event, entry = CATALOGUE.build(TYPE, data, source="urn:worklink:adjustments")
    assert TYPE in PUBLISHES and entry.version == 1 and not entry.restricted
    assert (entry.topic, event.partitionkey) == ("adjustments.suggestion", str(data["suggestion_id"]))
    assert broadcast_violations(entry) == []
    assert set(event.data) == {"request_id", "suggestion_id", "practice_id", "clinician_id", "requested_at",
                               "occurred_at"}


@pytest.mark.parametrize("clinician_id", ["9434765919", "ada@practice.example", "dr-ada", REFERENCE.upper(),
                                          REFERENCE[:-1], None])
def test_it_names_the_clinician_by_reference_only(clinician_id):
    with pytest.raises(EventSchemaError) as refused:
        CATALOGUE.build(TYPE, unanswered(clinician_id=clinician_id), source="urn:worklink:adjustments")
    assert list(refused.value.messages) == ["clinician_id"]


@pytest.mark.parametrize("field", ["request_id", "suggestion_id", "practice_id", "requested_at", "occurred_at"])
def test_every_field_is_required(field):
    data = unanswered()
    del data[field]
    with pytest.raises(EventSchemaError) as refused:
        CATALOGUE.build(TYPE, data, source="urn:worklink:adjustments")
    assert list(refused.value.messages) == [field]
