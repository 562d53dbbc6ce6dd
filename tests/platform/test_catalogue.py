"""The event catalogue, the envelope, topic declarations and the AsyncAPI document."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timezone

import pytest

from worklink.context import TraceParent
from worklink.events.asyncapi import asyncapi_document
from worklink.events.catalogue import EventSchemaError, UnknownEventType, broadcast_violations
from worklink.events.contracts import CATALOGUE
from worklink.events.envelope import CloudEvent, EnvelopeError
from worklink.messaging.topics import check_catalogue, load_topics


def test_broadcast_events_carry_only_ids_codes_and_timestamps():
    """Every version a publisher may send; a superseded one (still read, never sent) is kept as
    it was published, which is why it was superseded."""
    assert [v for entry in CATALOGUE if not CATALOGUE.superseded(entry) for v in broadcast_violations(entry)] == []
    superseded = [entry for entry in CATALOGUE if CATALOGUE.superseded(entry)]
    assert [(e.type, e.version) for e in superseded] == [("adjustments.employer_response.recorded", 1)]
    assert broadcast_violations(superseded[0]) == ["adjustments.employer_response.recorded.clinician_id"]


def test_the_guard_refuses_an_id_pattern_that_admits_an_nhs_number():
    """v1's clinician_id pattern refused a name, an address and a sentence, yet let an NHS number
    (or a login id) ride on a broadcast event as the clinician's id."""
    from marshmallow import Schema, fields, validate

    class Sneaky(Schema):
        thing_id = fields.UUID(required=True)
        clinician_id = fields.String(validate=validate.Regexp(r"^[A-Za-z0-9_.:|-]{1,128}$"))
        reference = fields.String(validate=validate.Regexp(r"^[0-9a-f]{64}$"))

    assert broadcast_violations(_broadcast(Sneaky)) == ["x.sneaky.happened.clinician_id"]


def test_a_code_is_never_digits_alone():
    """An NHS number or a phone number would otherwise pass as a code on a broadcast event."""
    from marshmallow import ValidationError

    from worklink.events.contracts.common import code

    for number in ("9434765919", "07700900123", "1"):
        with pytest.raises(ValidationError):
            code().deserialize(number)
    for kept in ("job_start", "16_to_29", "7_to_15", "under_7", "30_plus", "a1"):
        assert code().deserialize(kept) == kept


def test_the_guard_catches_free_text_on_a_broadcast_event():
    from marshmallow import Schema, fields

    from worklink.events.catalogue import EventType

    class Leaky(Schema):
        thing_id = fields.UUID(required=True)
        patient_name = fields.String()

    entry = EventType("x.leaky.happened", 1, Leaky, "x", "thing_id", "leaks")
    assert broadcast_violations(entry) == ["x.leaky.happened.patient_name"]


def test_every_catalogue_topic_is_declared_and_restricted_topics_match():
    assert check_catalogue(CATALOGUE, load_topics()) == []
    restricted = {s.name: s for s in load_topics() if s.restricted and not s.name.endswith(".dlt")}
    assert restricted, "personal-data hand-overs need a restricted topic"
    for spec in restricted.values():
        assert spec.reader and spec.retention_ms <= 7 * 24 * 3600 * 1000


def test_envelope_round_trip_and_required_attributes():
    event, entry = CATALOGUE.build("directory.service.withdrawn", {
        "service_id": uuid.uuid4(), "organization_id": uuid.uuid4(), "reason": "closed",
        "withdrawn_at": datetime(2026, 11, 25, 9, 30, tzinfo=timezone.utc)}, source="urn:worklink:directory")
    parsed = CloudEvent.from_json(event.to_json().encode())
    assert parsed == event
    assert CATALOGUE.load(parsed)[1]["reason"] == "closed"
    body = json.loads(event.to_json())
    assert body["time"].endswith("Z") and body["dataschema"] == entry.dataschema
    for missing in ("id", "source", "type", "specversion"):
        with pytest.raises(EnvelopeError, match=missing):
            CloudEvent.from_dict({k: v for k, v in body.items() if k != missing})


def test_consumers_tolerate_added_fields_but_not_unknown_versions():
    event, _ = CATALOGUE.build("directory.service.updated", {
        "service_id": uuid.uuid4(), "organization_id": uuid.uuid4(), "changed": ["schedule"],
        "updated_at": datetime.now(timezone.utc)}, source="urn:worklink:directory")
    newer = CloudEvent(type=event.type, source=event.source, data={**event.data, "added_later": 1},
                       dataschema=event.dataschema)
    assert "added_later" not in CATALOGUE.load(newer)[1]
    future = CloudEvent(type=event.type, source=event.source, data=event.data,
                        dataschema="urn:worklink:event:directory.service.updated:v9")
    with pytest.raises(UnknownEventType):
        CATALOGUE.load(future)
    broken = CloudEvent(type=event.type, source=event.source, data={**event.data, "changed": "all"},
                        dataschema=event.dataschema)
    with pytest.raises(EventSchemaError):
        CATALOGUE.load(broken)


def test_traceparent_parsing():
    parent = TraceParent.parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    assert parent and parent.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    child = parent.child()
    assert child.trace_id == parent.trace_id and child.parent_id != parent.parent_id
    for bad in ("", "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "00-" + "0" * 32 + "-00f067aa0ba902b7-01",
                "00-xyz-00f067aa0ba902b7-01"):
        assert TraceParent.parse(bad) is None


def test_asyncapi_document_describes_every_event():
    doc = asyncapi_document(CATALOGUE, load_topics(), {"worklink.referrals": ["adjustments.referral.requested"]})
    assert doc["asyncapi"] == "3.0.0"
    names = {m["name"] for m in doc["components"]["messages"].values()}
    assert names == {entry.type for entry in CATALOGUE}
    for operation in doc["operations"].values():
        assert operation["action"] in ("send", "receive")
        channel = operation["channel"]["$ref"].split("/")[-1]
        assert channel in doc["channels"]
    for message in doc["components"]["messages"].values():
        data_ref = message["payload"]["properties"]["data"]["$ref"].split("/")[-1]
        assert data_ref in doc["components"]["schemas"], data_ref
    receive = doc["operations"]["worklink.referrals.receive.AdjustmentsReferralRequestedV1"]
    assert receive["bindings"]["kafka"]["groupId"]["const"] == "worklink.referrals"
    restricted = doc["channels"]["adjustments_referral_requests"]
    assert "RESTRICTED" in restricted["description"]
    assert restricted["bindings"]["kafka"]["topicConfiguration"]["retention.ms"] == 259200000


def _broadcast(schema):
    from worklink.events.catalogue import EventType

    return EventType("x.sneaky.happened", 1, schema, "x", "thing_id", "tries to leak")


def test_the_guard_refuses_a_pattern_that_admits_free_text():
    """A Regexp is not a code because it is a Regexp: `.*`, a letters-and-spaces pattern or an
    unbounded one admits a name or a sentence, whatever the field is called."""
    from marshmallow import Schema, fields, validate

    class Sneaky(Schema):
        thing_id = fields.UUID(required=True)
        category = fields.String(validate=validate.Regexp(r".*"))
        label = fields.String(validate=validate.Regexp(r"^[A-Za-z ]+$"))
        tags = fields.List(fields.String(validate=validate.Regexp(r"^\S+$")))
        kind = fields.String(validate=validate.OneOf(["a", "b", "Jane Smith has back pain"]))
        status = fields.String(validate=validate.OneOf(["open", "closed"]))
        district = fields.String(validate=validate.Regexp(r"^[A-Z]{1,2}[0-9][0-9A-Z]?$"))

    assert broadcast_violations(_broadcast(Sneaky)) == [
        "x.sneaky.happened.category", "x.sneaky.happened.label", "x.sneaky.happened.tags",
        "x.sneaky.happened.kind"]


def test_the_guard_refuses_an_enum_whose_members_are_free_text():
    """An Enum field is a fixed set, yet read by value its members are whatever strings the enum holds: a
    sentence about the person or an NHS number rode on a broadcast event as a choice (Enum fields were safe by
    type). Read by name, or by values that are codes, it is one."""
    import enum

    from marshmallow import Schema, fields

    Outcome = enum.Enum("Outcome", {"JOB_START": "job_start", "STAYED": "stayed_in_work"})
    Note = enum.Enum("Note", {"A": "Jane Smith has back pain", "B": "none"})
    Patient = enum.Enum("Patient", {"SAM": "9434765919", "NOBODY": "nobody"})

    class Sneaky(Schema):
        thing_id = fields.UUID(required=True)
        outcome = fields.Enum(Outcome, by_value=True)
        outcome_name = fields.Enum(Note)
        note = fields.Enum(Note, by_value=True)
        patient = fields.Enum(Patient, by_value=fields.String)
        notes = fields.List(fields.Enum(Note, by_value=True))

    assert broadcast_violations(_broadcast(Sneaky)) == [
        "x.sneaky.happened.note", "x.sneaky.happened.patient", "x.sneaky.happened.notes"]


def test_the_guard_refuses_a_nested_object_that_lets_unknown_fields_through():
    """Publishing validates with unknown=RAISE, but marshmallow applies that to the outer schema
    only: a nested schema whose Meta says INCLUDE lets any extra key - a note about the person -
    through to Kafka as it was given."""
    from marshmallow import INCLUDE, Schema, fields

    from worklink.events.catalogue import Catalogue

    class Detail(Schema):
        class Meta:
            unknown = INCLUDE

        code_id = fields.UUID()

    class Holder(Schema):
        thing_id = fields.UUID(required=True)
        detail = fields.Nested(Detail)
        details = fields.List(fields.Nested(Detail))

    entry = _broadcast(Holder)
    assert broadcast_violations(entry) == ["x.sneaky.happened.detail", "x.sneaky.happened.details"]
    with pytest.raises(ValueError, match="detail, details must refuse unknown fields"):
        Catalogue([entry])  # restricted or not: no catalogue publishes unchecked keys


def _capacity(**overrides) -> dict:
    return {"service_id": uuid.uuid4(), "organization_id": uuid.uuid4(), "accepting_referrals": True,
            "open_referrals": 12, "available_places": 0, "typical_wait_days": None,
            "recorded_at": datetime.now(timezone.utc), **overrides}


@pytest.mark.parametrize("nhs_number", [9434765919, 9434765919.0, "9434765919"])
def test_the_guard_refuses_an_nhs_number_given_as_a_number(nhs_number):
    """A number field refuses no digits by its type: an NHS number in a count is refused by value,
    when sent and when read (another producer's event is dead-lettered as schema-invalid)."""
    with pytest.raises(EventSchemaError) as refused:
        CATALOGUE.build("referrals.capacity.changed", _capacity(open_referrals=nhs_number), source="urn:x")
    assert refused.value.messages == {"open_referrals": [
        "Looks like an NHS number: a broadcast event carries ids, codes and timestamps only."]}
    assert "9434765919" not in str(refused.value)
    sent, entry = CATALOGUE.build("referrals.capacity.changed", _capacity(), source="urn:x")
    leaked = CloudEvent(type=sent.type, source="urn:elsewhere", dataschema=entry.dataschema,
                        data={**sent.data, "available_places": nhs_number})
    with pytest.raises(EventSchemaError, match="available_places"):
        CATALOGUE.load(leaked)


def test_counts_and_epoch_times_in_number_fields_are_accepted():
    from worklink.nhs import nhs_number_is_valid

    epoch = 1_764_158_407  # 2025-11-26T12:00:07Z in Unix seconds: passes modulus 11, yet begins with 1
    assert nhs_number_is_valid(str(epoch))
    for counts in ({}, {"open_referrals": 0, "available_places": 250, "typical_wait_days": 28},
                   {"open_referrals": epoch}):
        event, _ = CATALOGUE.build("referrals.capacity.changed", _capacity(**counts), source="urn:x")
        assert CATALOGUE.load(event)[1]["open_referrals"] == counts.get("open_referrals", 12)


@pytest.mark.parametrize("birth_date", [date(1980, 3, 14), "1980-03-14", datetime(1980, 3, 14, tzinfo=timezone.utc),
                                        "1980-03-14T00:00:00Z", "1980-03-14t00:00:00z"])
def test_the_guard_refuses_a_date_outside_a_date_field(birth_date):
    """A code or id pattern may admit a date's characters: a date of birth is refused by value in
    any field not declared as a date or a timestamp, at any depth."""
    from marshmallow import Schema, fields, validate

    from worklink.events.catalogue import Catalogue, EventType

    class Loose(Schema):
        thing_id = fields.UUID(required=True)
        ref = fields.String(validate=validate.Regexp(r"^[A-Za-z0-9_.:|-]{1,128}$"))
        refs = fields.List(fields.String(validate=validate.Regexp(r"^[A-Za-z0-9_.:|-]{1,128}$")))
        happened_at = fields.DateTime()
        happened_on = fields.Date()

    loose = Catalogue([EventType("x.loose.happened", 1, Loose, "x", "thing_id", "loose")])
    with pytest.raises(EventSchemaError) as refused:
        loose.build("x.loose.happened", {"thing_id": uuid.uuid4(), "ref": birth_date, "refs": ["a", birth_date]},
                    source="urn:x")
    assert set(refused.value.messages) == {"ref", "refs.1"}
    # A timestamp or a date in a field declared as one is what those fields are for.
    loose.build("x.loose.happened", {"thing_id": uuid.uuid4(), "ref": "job_start", "refs": ["16_to_29"],
                                     "happened_at": datetime(1980, 3, 14, tzinfo=timezone.utc),
                                     "happened_on": date(1980, 3, 14)}, source="urn:x")


def test_the_guard_sees_dates_in_the_real_contracts_codes_and_nested_ids():
    with pytest.raises(EventSchemaError) as refused:
        CATALOGUE.build("directory.service.updated", {
            "service_id": uuid.uuid4(), "organization_id": uuid.uuid4(), "changed": [date(1980, 3, 14)],
            "updated_at": datetime.now(timezone.utc)}, source="urn:x")
    assert list(refused.value.messages) == ["changed.0"]
    answer = {"response_id": uuid.uuid4(), "suggestion_id": uuid.uuid4(), "practice_id": uuid.uuid4(),
              "clinician_id": "ab" * 32, "outcome": "agreed", "effective_from": date(2026, 12, 1),
              "items": [{"adjustment_id": "943-476-5919", "outcome": "agreed"}],
              "occurred_at": datetime.now(timezone.utc)}
    with pytest.raises(EventSchemaError) as refused:
        CATALOGUE.build("adjustments.employer_response.recorded", answer, source="urn:x")
    assert list(refused.value.messages) == ["items.0.adjustment_id"]
    answer["items"][0]["adjustment_id"] = "flexible_hours"
    CATALOGUE.build("adjustments.employer_response.recorded", answer, source="urn:x")


def test_restricted_events_may_carry_the_persons_details():
    """The guard is for broadcast events: a hand-over on a restricted topic carries the person."""
    event, _ = CATALOGUE.build("adjustments.referral.requested", {
        "request_id": uuid.uuid4(), "suggestion_id": uuid.uuid4(), "practice_id": uuid.uuid4(),
        "clinician_id": "dr-ada", "consent_id": uuid.uuid4(), "consented_at": datetime.now(timezone.utc),
        "outcomes_to_gp": True, "fit_note_decision": "may_be_fit",
        "person": {"nhs_number": "9434765919", "given_name": "Jane", "family_name": "Smith",
                   "birth_date": date(1980, 3, 14)}}, source="urn:x")
    assert CATALOGUE.load(event)[1]["person"]["nhs_number"] == "9434765919"
