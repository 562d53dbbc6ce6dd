"""The broadcast guard's value check (worklink.events.identifiers) refuses a person's identifier or a
date of birth spelt by a code, an id or a number - NHS, H&C, CHI and National Insurance numbers,
UK phone numbers, full postcodes, dates as YYYYMMDD or DD/MM/YYYY - when an event is sent and
when it is read (dead-lettered as schema-invalid on real Kafka, naming the field, never the value),
while every code, count and id the project's own events carry still passes."""

from __future__ import annotations

import csv
import dataclasses
import enum
import importlib
import json
import uuid
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest
from kafka import KafkaProducer
from marshmallow import Schema, fields, validate

from worklink.config import KafkaSettings
from worklink.events import identifiers
from worklink.events.catalogue import Catalogue, EventSchemaError, EventType, personal_values, to_json_types
from worklink.events.catalogue import _accepts as admits
from worklink.events.contracts import CATALOGUE
from worklink.events.envelope import CloudEvent
from worklink.messaging import kafka
from worklink.messaging.consumer import EventConsumer, Outcome
from worklink.nhs import nhs_number_is_valid
from tests.events import consume
from tests.platform import support

pytestmark = pytest.mark.timeout(300)
ROOT = Path(__file__).resolve().parents[2]


def with_check_digit(first_nine: str) -> str:
    """The ten digits modulus 11 completes (NHS, H&C and CHI numbers share the check)."""
    return next(first_nine + d for d in "0123456789" if nhs_number_is_valid(first_nine + d))


CHI = with_check_digit("010190123")  # born 1 January 1990: its leading zero is lost as a number
CHI_15TH = with_check_digit("150385123")  # born 15 March 1985
HC = with_check_digit("320123456")  # Northern Ireland: the 320-399 range of the NHS number scheme
NOT_CHI = CHI_15TH[:-1] + str((int(CHI_15TH[-1]) + 1) % 10)  # the check digit wrong


def grouped(digits: str, separator: str, *cuts: int) -> str:
    """ "010190 1232" from grouped("0101901232", " ", 6)."""
    bounds = (0, *cuts, len(digits))
    return separator.join(digits[a:b] for a, b in zip(bounds, bounds[1:]))


NI, CHI_WHY, NHS, PHONE, POSTCODE, DATE = (identifiers.NATIONAL_INSURANCE_NUMBER, identifiers.CHI_NUMBER,
                                           identifiers.NHS_NUMBER, identifiers.PHONE_NUMBER,
                                           identifiers.POSTCODE, identifiers.DATE)

# What a code field (worklink.events.contracts.common.code: lower case, no spaces, never digits
# alone) admits by its pattern, so only the value check stands between it and a broadcast topic.
IN_A_CODE = [
    ("ab123456c", NI), ("ab-12-34-56-c", NI), ("qq123456c", NI), ("pl.12.34.56.d", NI),
    (grouped(CHI, "-", 6), CHI_WHY), (grouped(CHI_15TH, "-", 6), CHI_WHY), (grouped(HC, "-", 3, 6), NHS),
    ("29-02-1984", DATE), ("29.02.1984", DATE), ("1984.02.29", DATE), ("2.29.1984", DATE),
    ("07700-900123", PHONE), ("07700.900.123", PHONE), ("0044-7700-900123", PHONE), ("020-7946-0000", PHONE),
    ("ta11aa", POSTCODE), ("ta1-1aa", POSTCODE), ("sw1a1aa", POSTCODE), ("bs16-2qq", POSTCODE),
]
# What only a looser pattern admits: upper case, digits alone (v1's clinician_id, still read, admits these).
IN_AN_ID = [
    ("AB123456C", NI), ("QQ123456C", NI), ("SG-12-34-56-A", NI), (CHI, CHI_WHY), (CHI_15TH, CHI_WHY),
    (HC, NHS), ("19840229", DATE), ("07700900123", PHONE), ("447700900123", PHONE), ("TA11AA", POSTCODE),
    ("SW1A-1AA", POSTCODE),
]
# As people write them: spaces, "+", "/" and brackets, which no broadcast pattern admits (below).
AS_WRITTEN = [
    ("QQ 12 34 56 C", NI), ("AB 123456 C", NI), (grouped(CHI, " ", 6), CHI_WHY), (grouped(HC, " ", 3, 6), NHS),
    ("29/02/1984", DATE), ("1984/02/29", DATE), ("29/2/1984", DATE), ("+44 7700 900123", PHONE),
    ("+44 (0)7700 900123", PHONE), ("(01632) 960 001", PHONE), ("TA1 1AA", POSTCODE), ("EC1A 1BB", POSTCODE),
]
IN_A_NUMBER = [(19840229, DATE), (19840229.0, DATE), (int(CHI), CHI_WHY), (int(HC), NHS)]
# Inside a longer code or id: between separators, at either end, written with separators of its own.
INSIDE = [
    ("ref-ab123456c", NI), ("case_ab123456c_open", NI), ("ab123456", NI), ("x.ab123456", NI),
    (f"ref-{HC}", NHS), (f"{HC}-ref", NHS), (f"ref-{grouped(HC, '-', 3, 6)}-x", NHS),
    (f"p_{grouped(CHI_15TH, '-', 6)}", CHI_WHY), ("dob-1984-02-29", DATE), ("seen_29.02.1984_gp", DATE),
    ("tel-07700-900123", PHONE), ("area_ta1-1aa", POSTCODE), ("home.sw1a1aa.x", POSTCODE),
]


@pytest.mark.parametrize("value, why", IN_A_CODE + IN_AN_ID + AS_WRITTEN + IN_A_NUMBER + INSIDE)
def test_each_identifier_is_recognised(value, why):
    assert identifiers.personal_identifier(value) == why


@pytest.mark.parametrize("value", [
    "QA123456A", "AQ123456A", "GB123456A", "AO123456A", "AB123456E", "AB12345C",  # not HMRC's format
    "4.A.3.a.2", "1.2.1234", "1.0.2026", "b1300", "d240", "job_start", "16_to_29", "7_to_15", "30_plus", "TA1",
    "BS16", "sw1a", "+1 415 555 0100", "0623 456 789", "07700-9001", NOT_CHI, "ab" * 32, "30-02-1984",
    "1899-12-31", 0, 28, 250, 19850229, 1_764_158_407, "phased_return_4wk", "week_12_of_16", "v2.3.1-rc.4",
    "job-2026", "ta1", "ta1_north", "sw1a_area", "ab12345", "ab_123456", f"ref-{NOT_CHI}", "cohort_16_to_29",
    int(CHI_15TH),  # ten digits from 1: as a number it is as likely a Unix time in seconds
    True, None, float("nan"), float("inf"),
])
def test_codes_counts_and_near_misses_are_not(value):
    assert identifiers.personal_identifier(value) is None


# --- at send and at read, through the real contracts ---------------------------------------------

def lifecycle(**overrides) -> dict:
    return {"referral_id": uuid.uuid4(), "status": "accepted", "business_status": "waitlisted", "reason": None,
            "referrer_org_id": uuid.uuid4(), "assigned_org_id": None, "service_id": None, "request_id": None,
            "suggestion_id": None, "version": 2, "occurred_at": datetime.now(timezone.utc), **overrides}


def capacity(**overrides) -> dict:
    return {"service_id": uuid.uuid4(), "organization_id": uuid.uuid4(), "accepting_referrals": True,
            "open_referrals": 12, "available_places": 3, "typical_wait_days": 14,
            "recorded_at": datetime.now(timezone.utc), **overrides}


def employer_answer(version: int, **overrides) -> CloudEvent:
    """An employer's answer as a producer put it on the topic (v1: still read, no longer sent)."""
    data = to_json_types({
        "response_id": uuid.uuid4(), "suggestion_id": uuid.uuid4(), "practice_id": uuid.uuid4(),
        "clinician_id": "ab" * 32, "suggestion_version": 1, "outcome": "agreed",
        "items": [{"adjustment_id": "flexible_hours", "outcome": "agreed"}], "effective_from": None,
        "occurred_at": datetime.now(timezone.utc), **overrides})
    kind = "adjustments.employer_response.recorded"
    return CloudEvent(type=kind, source="urn:worklink:adjustments", data=data, partitionkey=data["suggestion_id"],
                      dataschema=f"urn:worklink:event:{kind}:v{version}")


def leaked(event: CloudEvent, **data) -> CloudEvent:
    """`event` as another producer (one without the guard) might send it."""
    return CloudEvent(type=event.type, source="urn:elsewhere", dataschema=event.dataschema,
                      partitionkey=event.partitionkey, data={**event.data, **data})


@pytest.mark.parametrize("value, why", IN_A_CODE)
def test_a_code_spelling_an_identifier_is_refused_at_send_and_at_read(value, why):
    with pytest.raises(EventSchemaError) as refused:
        CATALOGUE.build("referrals.referral.cancelled", lifecycle(reason=value), source="urn:x")
    assert refused.value.messages == {"reason": [why]}
    assert value not in str(refused.value)
    sent, _ = CATALOGUE.build("referrals.referral.cancelled", lifecycle(reason="person_withdrew"), source="urn:x")
    with pytest.raises(EventSchemaError) as refused:
        CATALOGUE.load(leaked(sent, reason=value))
    assert refused.value.messages == {"reason": [why]}
    with pytest.raises(EventSchemaError) as refused:  # in a list of codes, and nested in a list of objects
        CATALOGUE.load(employer_answer(2, items=[{"adjustment_id": "flexible_hours", "outcome": "agreed"},
                                                 {"adjustment_id": value, "outcome": "agreed"}]))
    assert refused.value.messages == {"items.1.adjustment_id": [why]}


@pytest.mark.parametrize("value, why", IN_AN_ID)
def test_an_id_spelling_an_identifier_is_refused_at_read(value, why):
    """v1's clinician_id pattern admits upper case and digits alone: such an answer is still read."""
    with pytest.raises(EventSchemaError) as refused:
        CATALOGUE.load(employer_answer(1, clinician_id=value))
    assert refused.value.messages == {"clinician_id": [why]}


@pytest.mark.parametrize("value, why", IN_AN_ID + AS_WRITTEN)
def test_a_looser_pattern_is_no_way_through_at_send(value, why):
    class Loose(Schema):
        thing_id = fields.UUID(required=True)
        ref = fields.String(validate=validate.Length(max=32))

    loose = Catalogue([EventType("x.loose.happened", 1, Loose, "x", "thing_id", "loose")])
    with pytest.raises(EventSchemaError) as refused:
        loose.build("x.loose.happened", {"thing_id": uuid.uuid4(), "ref": value}, source="urn:x")
    assert refused.value.messages == {"ref": [why]}


@pytest.mark.parametrize("value, why", IN_A_NUMBER)
def test_a_number_spelling_an_identifier_or_a_birth_date_is_refused_at_send_and_at_read(value, why):
    with pytest.raises(EventSchemaError) as refused:
        CATALOGUE.build("referrals.capacity.changed", capacity(open_referrals=value), source="urn:x")
    assert refused.value.messages == {"open_referrals": [why]}
    sent, _ = CATALOGUE.build("referrals.capacity.changed", capacity(), source="urn:x")
    with pytest.raises(EventSchemaError, match="typical_wait_days"):
        CATALOGUE.load(leaked(sent, typical_wait_days=value))


def test_what_people_write_with_spaces_and_signs_no_broadcast_field_admits():
    """Every broadcast string field's own pattern refuses an e-mail address (so the value check does
    not look for one) and identifiers written with spaces, "+", "/" or brackets (which it knows all
    the same, for a pattern that would admit them)."""
    addresses = ["ada@practice.example", "a@b.uk", "jane.smith+work@example.org", "ADA@NHS.NET"]
    written = [value for value, _ in AS_WRITTEN]
    for entry in broadcast_entries():
        for path, field in string_fields(entry.schema()):
            for value in (*addresses, *written):
                assert not admits(field, value), f"{entry.type} v{entry.version} {path} admits {value!r}"


# --- on real Kafka --------------------------------------------------------------------------------

def test_a_consumer_dead_letters_an_event_spelling_an_identifier(database_url, kafka_broker, new_topic):
    topic, group, bootstrap = new_topic(), f"g-{uuid.uuid4().hex}", kafka_broker.bootstrap_servers
    catalogue = Catalogue([dataclasses.replace(entry, topic=topic) for entry in CATALOGUE])
    good, _ = catalogue.build("referrals.referral.cancelled", lifecycle(reason="person_withdrew"), source="urn:x")
    counted, _ = catalogue.build("referrals.capacity.changed", capacity(), source="urn:x")
    leaks = [leaked(good, reason="ab123456c"), leaked(good, business_status=grouped(CHI, "-", 6)),
             leaked(counted, open_referrals=19840229), employer_answer(1, clinician_id="07700900123"),
             employer_answer(2, items=[{"adjustment_id": "ta11aa", "outcome": "agreed"}])]
    expected = [("reason", NI), ("business_status", CHI_WHY), ("open_referrals", DATE), ("clinician_id", PHONE),
                ("items.0.adjustment_id", POSTCODE)]
    answered = employer_answer(2)
    send_raw(bootstrap, topic, good, *leaks, counted, answered)

    handled: list[str] = []
    kinds = ("referrals.referral.cancelled", "referrals.capacity.changed", "adjustments.employer_response.recorded")
    consumer = EventConsumer(
        group_id=group, database=support.make_database(database_url), tables=support.TABLES, catalogue=catalogue,
        handlers={kind: lambda session, event: handled.append(event.id) for kind in kinds},
        consumer_factory=lambda: kafka.consumer(KafkaSettings(bootstrap), group, "test", session_timeout_ms=6000,
                                                heartbeat_interval_ms=1000),
        producer_factory=lambda: kafka.producer(KafkaSettings(bootstrap), "test-dlt"), backoff_base=0.05)
    try:
        outcomes = consume(consumer, 8)
    finally:
        consumer.close()

    assert outcomes == [Outcome.HANDLED] + [Outcome.DEAD_LETTERED] * 5 + [Outcome.HANDLED] * 2
    assert handled == [good.id, counted.id, answered.id]
    dead = support.read_topic(bootstrap, topic + ".dlt", expected=5)
    assert [json.loads(record.value)["id"] for record in dead] == [event.id for event in leaks]
    for record, (path, why) in zip(dead, expected):
        headers = dict(record.headers)
        assert headers["dlt-reason"] == b"schema-invalid"
        error = headers["dlt-error"].decode()
        assert json.dumps({path: [why]}) in error, error
        assert not [value for value in ("ab123456c", CHI[:6], "19840229", "07700900123", "ta11aa")
                    if value in error], error


def send_raw(bootstrap: str, topic: str, *events: CloudEvent) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for event in events:
        producer.send(topic, key=b"k", value=event.to_json().encode()).get(30)
    producer.close()


# --- legitimate events of every published type still pass --------------------------------------

def broadcast_entries() -> list[EventType]:
    """Every broadcast version a publisher may send or a consumer still reads."""
    return [entry for entry in CATALOGUE if not entry.restricted]


def string_fields(schema: Schema, prefix: str = "") -> Iterator[tuple[str, fields.String]]:
    """Every string field at any depth, by its path in the data ("items.0.adjustment_id")."""
    for name, field in schema.fields.items():
        path = prefix + name
        if isinstance(field, fields.List):
            field, path = field.inner, path + ".0"
        if isinstance(field, fields.Nested):
            yield from string_fields(field.schema, path + ".")
        elif isinstance(field, fields.String):
            yield path, field


def placed(path: str, value: Any) -> dict:
    """{"items": [{"adjustment_id": value}]} for "items.0.adjustment_id"."""
    head, _, rest = path.partition(".")
    if not rest:
        return {head: value}
    if rest == "0":
        return {head: [value]}
    return {head: [placed(rest[2:], value)] if rest.startswith("0.") else placed(rest, value)}


def project_vocabulary() -> set[str]:
    """Every string the services keep in a module-level collection or enum (status, reason, outcome,
    band and clock codes, changed-field names...), the guidance library's ids and words, the
    directory's postcodes and districts, and every code the catalogue itself lists."""
    found: set[str] = set()
    for module in ("worklink_referrals.domain", "worklink_adjustments.domain", "worklink_directory.models",
                   "worklink_directory.services", "worklink_referrals.events", "worklink_adjustments.events",
                   "worklink_directory.events", "worklink_notifications.events"):
        for value in vars(importlib.import_module(module)).values():
            if isinstance(value, type) and issubclass(value, enum.Enum):
                value = [member.value for member in value]
            collect_strings(value, found)
    for data in (ROOT / "services/adjustments/worklink_adjustments/data").glob("*.json"):
        collect_strings(json.loads(data.read_text()), found)
    with open(ROOT / "services/directory/worklink_directory/data/somerset_postcodes.csv") as rows:
        found |= {row[0] for row in csv.reader(line for line in rows if not line.startswith("#"))}
    for entry in CATALOGUE:
        for _, field in string_fields(entry.schema()):
            found |= {str(c) for v in field.validators if isinstance(v, validate.OneOf) for c in v.choices}
    return found


def collect_strings(value: Any, found: set[str]) -> None:
    if isinstance(value, str):
        found.add(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            collect_strings(key, found)
            collect_strings(item, found)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            collect_strings(item, found)


def test_every_code_the_project_uses_passes_in_every_broadcast_field_that_admits_it():
    vocabulary = project_vocabulary()
    assert {"job_start", "16_to_29", "phased_return_4wk", "person_withdrew", "TA1"} <= vocabulary
    checked = 0
    for entry in broadcast_entries():
        for path, field in string_fields(entry.schema()):
            for value in (v for v in vocabulary if admits(field, v)):
                assert personal_values(entry, placed(path, value)) == {}, f"{entry.type} {path} {value!r}"
                checked += 1
    assert checked > 5000  # every code field, with the hundreds of codes it admits


def test_a_typical_event_of_every_published_broadcast_type_is_sent_and_read():
    sendable = [entry for entry in broadcast_entries() if not CATALOGUE.superseded(entry)]
    assert len(sendable) > 20
    for entry in sendable:
        event, _ = CATALOGUE.build(entry.type, typical(entry.schema()), source="urn:x", version=entry.version)
        CATALOGUE.load(event)


def typical(schema: Schema) -> dict:
    """A realistic event's data: every field given, codes from the project's own lists."""
    return {name: typical_value(field) for name, field in schema.fields.items()}


TYPICAL_CODES = ("accepted", "waitlisted", "person_withdrew", "job_start", "16_to_29", "acknowledge",
                 "phased_return_4wk", "schedules", "inactive", "ab" * 32, "TA1")


def typical_value(field: fields.Field) -> Any:
    if isinstance(field, fields.List):
        return [typical_value(field.inner), typical_value(field.inner)]
    if isinstance(field, fields.Nested):
        return typical(field.schema)
    if isinstance(field, fields.UUID):
        return uuid.uuid4()
    if isinstance(field, fields.DateTime):
        return datetime(1984, 2, 29, 9, 30, tzinfo=timezone.utc)  # a date is what such a field is for
    if isinstance(field, fields.Date):
        return date(1984, 2, 29)
    if isinstance(field, fields.Boolean):
        return True
    if isinstance(field, fields.Integer):
        return 26 if admits(field, 26) else 1
    choices = [c for v in field.validators if isinstance(v, validate.OneOf) for c in v.choices]
    return choices[-1] if choices else next(code for code in TYPICAL_CODES if admits(field, code))
