"""The catalogue: every integration event type, declared once.

An entry names the CloudEvents `type`, its schema version, the marshmallow schema
of its `data`, the Kafka topic it travels on and the `data` field that is its
partition key (the aggregate id, so one aggregate's events stay in order).

Publishers validate strictly (unknown fields raise); consumers validate
tolerantly (unknown fields are ignored) so a producer can add optional fields
without breaking older readers. A breaking change is a new version.
"""

from __future__ import annotations

import functools
import json
import re
import uuid
import weakref
from dataclasses import dataclass
from functools import cached_property
from datetime import date, datetime, timezone
from enum import Enum
from typing import Any, Iterable

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate

from worklink.events.envelope import CloudEvent
from worklink.events.identifiers import personal_identifier

# The version is bounded: int() refuses a number of 4,300+ digits with a ValueError.
_DATASCHEMA = re.compile(r"^urn:worklink:event:(?P<type>[a-z0-9_.-]+):v(?P<version>[0-9]{1,9})$")


class UnknownEventType(LookupError):
    """No catalogue entry for this type/version."""


class EventSchemaError(ValueError):
    """Event data does not match its schema; `messages` holds marshmallow's field errors."""

    def __init__(self, event_type: str, messages: Any):
        super().__init__(f"{event_type}: data does not match its schema: {json.dumps(messages, default=str)}")
        self.event_type = event_type
        self.messages = messages


@dataclass(frozen=True)
class EventType:
    type: str
    version: int
    schema: type[Schema]
    topic: str
    key: str
    description: str
    restricted: bool = False  # carries a person's details: restricted topic, one consumer
    # A new version is declared first for readers only: consumers deploy and can read it while
    # publishers keep sending the previous version. Drop the flag (publishers switch) once
    # every consumer runs the catalogue that declares it.
    readers_only: bool = False

    @cached_property
    def validator(self) -> Schema:
        """One schema instance per event type: building one per event costs more than the check."""
        return self.schema()

    @property
    def dataschema(self) -> str:
        return f"urn:worklink:event:{self.type}:v{self.version}"

    @property
    def aggregate_type(self) -> str:
        """Debezium outbox `aggregatetype`: we route by topic."""
        return self.topic


@functools.lru_cache(maxsize=None)
def _reader(schema: type[Schema]) -> Schema:
    """One instance per schema for consumers: building a marshmallow Schema deep-copies its
    fields, which costs more than validating a typical event. `load` keeps no state."""
    return _ignoring_unknown(schema())


def _ignoring_unknown(schema: Schema) -> Schema:
    """Make nested objects ignore unknown fields too: load(unknown=EXCLUDE) reaches the outer
    schema only, and a field added to a nested object is as compatible as one added on top."""
    for field in schema.fields.values():
        inner = field.inner if isinstance(field, fields.List) else field
        if isinstance(inner, fields.Nested):
            inner.unknown = EXCLUDE
            _ignoring_unknown(inner.schema)
    return schema


class Catalogue:
    def __init__(self, entries: Iterable[EventType]):
        self._entries: dict[tuple[str, int], EventType] = {}
        for entry in entries:
            ident = (entry.type, entry.version)
            if ident in self._entries:
                raise ValueError(f"event type {entry.type} v{entry.version} declared twice")
            if entry.key not in entry.schema().fields:
                raise ValueError(f"{entry.type}: partition key {entry.key!r} is not a data field")
            for other in (e for (t, _), e in self._entries.items() if t == entry.type):
                if (other.topic, other.key) != (entry.topic, entry.key):
                    # Consumers subscribe by type; and one aggregate's events stay in order only
                    # on one topic under one key, whichever version each was published as.
                    raise ValueError(f"{entry.type}: every version needs one topic and key, "
                                     f"v{other.version} has {other.topic}/{other.key}, "
                                     f"v{entry.version} {entry.topic}/{entry.key}")
            if lenient := lenient_nested_fields(entry.schema()):
                # Publishing loads with unknown=RAISE, which marshmallow applies to the outer
                # schema only: such a nested object would carry any extra key to Kafka unchecked.
                raise ValueError(f"{entry.type}: nested {', '.join(lenient)} must refuse unknown fields")
            self._entries[ident] = entry
        # The version publishers send of each type, found once: every event published asks for it.
        self._current: dict[str, EventType] = {}
        for entry in self._entries.values():
            if not entry.readers_only and entry.version > getattr(self._current.get(entry.type), "version", 0):
                self._current[entry.type] = entry

    def __iter__(self):
        return iter(sorted(self._entries.values(), key=lambda e: (e.type, e.version)))

    def __contains__(self, event_type: str) -> bool:
        return any(t == event_type for t, _ in self._entries)

    def latest(self, event_type: str) -> EventType:
        versions = [e for (t, _), e in self._entries.items() if t == event_type]
        if not versions:
            raise UnknownEventType(f"no event type {event_type!r} in the catalogue")
        return max(versions, key=lambda e: e.version)

    def current(self, event_type: str) -> EventType:
        """The version publishers send: the latest that is not declared for readers only."""
        try:
            return self._current[event_type]
        except KeyError:
            raise UnknownEventType(f"no event type {event_type!r} publishers may send") from None

    def superseded(self, entry: EventType) -> bool:
        """A version publishers no longer send (readers only, older than the current one): kept so
        events already on a topic or dead-letter topic are still read."""
        return entry.readers_only and entry.version < self.current(entry.type).version

    def get(self, event_type: str, version: int) -> EventType:
        try:
            return self._entries[(event_type, version)]
        except KeyError:
            raise UnknownEventType(f"no event type {event_type!r} version {version}") from None

    def for_event(self, event: CloudEvent) -> EventType:
        match = _DATASCHEMA.match(event.dataschema or "")
        if not match or match["type"] != event.type:
            raise UnknownEventType(f"dataschema {event.dataschema!r} does not name a version of {event.type!r}")
        return self.get(event.type, int(match["version"]))

    def topics(self) -> set[str]:
        return {entry.topic for entry in self._entries.values()}

    def build(self, event_type: str, data: dict[str, Any], *, source: str,
              subject: str | None = None, version: int | None = None) -> tuple[CloudEvent, EventType]:
        """Validate `data` strictly and wrap it in an envelope; raises EventSchemaError."""
        entry = self.get(event_type, version) if version else self.current(event_type)
        if entry.readers_only:
            raise UnknownEventType(f"{event_type} v{entry.version} is declared for readers only: "
                                   "no publisher sends it until every consumer reads it")
        payload = to_json_types(data)
        try:
            loaded = entry.validator.load(payload, unknown=RAISE)
        except ValidationError as exc:
            raise EventSchemaError(event_type, exc.messages) from None
        if found := personal_values(entry, payload):
            raise EventSchemaError(event_type, found)
        # The key in its canonical form (a UUID in lower case), however the caller wrote it:
        # one aggregate must hash to one partition.
        event = CloudEvent(type=entry.type, source=source, data=payload, dataschema=entry.dataschema,
                           subject=subject, partitionkey=str(loaded[entry.key]))
        return event, entry

    def load(self, event: CloudEvent) -> tuple[EventType, dict[str, Any]]:
        """Validate an incoming event's data tolerantly; returns the deserialised data."""
        entry = self.for_event(event)
        try:
            loaded = _reader(entry.schema).load(event.data, unknown=EXCLUDE)
        except ValidationError as exc:
            raise EventSchemaError(event.type, exc.messages) from None
        if found := personal_values(entry, event.data):  # another producer's leak stops here
            raise EventSchemaError(event.type, found)
        return entry, loaded


# Values that are their own JSON form (exactly these types: a str or int Enum member is converted below).
_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})


def to_json_types(value: Any) -> Any:
    """UUIDs, dates and enums to their JSON forms, recursively."""
    if type(value) in _JSON_SCALARS:  # most values of an event: answered before six isinstance checks
        return value
    if isinstance(value, dict):
        return {str(k): to_json_types(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_json_types(v) for v in value]
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        # Every time the platform keeps is UTC (worklink.db.utcnow; SQLite hands them back naive):
        # a naive one went out with no offset, which is not an RFC 3339 date-time and gave readers
        # a naive datetime to compare with aware ones.
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return value


# Field kinds a broadcast (non-restricted) event may carry: ids, codes, timestamps,
# numbers, flags. Free text could carry a person's details, so it is refused.
_SAFE_FIELDS = (fields.UUID, fields.DateTime, fields.Date, fields.Integer, fields.Boolean,
                fields.Float, fields.Decimal)

# What a code must refuse, whatever its field is called: a name, an e-mail address, a sentence,
# a line break, a long string. A Regexp or OneOf that admits any of them is free text.
FREE_TEXT_PROBES = ("Jane Smith", "jane.smith@example.org", "Back pain since March; lives alone.",
                    "first\nsecond", "x" * 200)
# ...nor an NHS number (a valid one, digits alone): an id field whose pattern admits one could name
# the person (adjustments.employer_response.recorded v1's clinician_id did).
PERSON_IDENTIFIER_PROBES = ("9434765919",)


def broadcast_violations(entry: EventType) -> list[str]:
    """Fields of a broadcast event that are not id/code/timestamp shaped."""
    if entry.restricted:
        return []
    return [f"{entry.type}.{name}" for name, field in entry.schema().fields.items()
            if not _is_safe(field)]


# What a field's type and pattern cannot refuse, checked in the values of every broadcast event
# sent or read: a person's identifier (NHS, CHI, H&C or National Insurance number, phone number,
# full postcode) or a date (of birth, say) anywhere but a field declared as a date or a timestamp.
# A UUID or a flag cannot spell one (the schema checked it first), so they are not looked at.
_NOT_SCANNED = (fields.Date, fields.DateTime, fields.UUID, fields.Boolean)


def personal_values(entry: EventType, data: Any) -> dict[str, list[str]]:
    """Fields of a broadcast event's data (JSON types) whose value is a person's identifier or a
    date outside a date field, as {"items.0.adjustment_id": [why]}; never the value itself."""
    found: dict[str, list[str]] = {}
    if not entry.restricted:
        _scan_object(entry.validator, data, "", found)
    return found


def _scan_object(schema: Schema, data: Any, prefix: str, found: dict[str, list[str]]) -> None:
    if not isinstance(data, dict):
        return
    for key, field in _scanned_fields(schema):
        if key in data:
            _scan_value(field, data[key], prefix + key, found)


_SCANNED_FIELDS: weakref.WeakKeyDictionary[Schema, tuple[tuple[str, fields.Field], ...]] = weakref.WeakKeyDictionary()


def _scanned_fields(schema: Schema) -> tuple[tuple[str, fields.Field], ...]:
    """(data key, field) of each field of `schema` whose values are scanned, worked out once per schema instance
    (the catalogue's are kept): walking every field of every event sent cost more than scanning the few that
    can carry an identifier. A date, timestamp, UUID or flag field is skipped, as _scan_value would skip it."""
    scanned = _SCANNED_FIELDS.get(schema)
    if scanned is None:
        scanned = _SCANNED_FIELDS[schema] = tuple((field.data_key or name, field) for name, field
                                                  in schema.fields.items() if not isinstance(field, _NOT_SCANNED))
    return scanned


def _scan_value(field: fields.Field, value: Any, path: str, found: dict[str, list[str]]) -> None:
    if value is None or isinstance(field, _NOT_SCANNED):
        return  # a declared date or timestamp is what such a field is for
    if isinstance(field, fields.List) and isinstance(value, list):
        for index, item in enumerate(value):
            _scan_value(field.inner, item, f"{path}.{index}", found)
    elif isinstance(field, fields.Nested):
        for index, item in enumerate(value) if isinstance(value, list) else [(None, value)]:
            _scan_object(field.schema, item, f"{path}.{index}." if index is not None else f"{path}.", found)
    elif why := personal_identifier(value):
        found.setdefault(path, []).append(why)


def lenient_nested_fields(schema: Schema, prefix: str = "") -> list[str]:
    """Nested objects (at any depth) that would accept unknown fields instead of refusing them."""
    found = []
    for name, field in schema.fields.items():
        inner = field.inner if isinstance(field, fields.List) else field
        if isinstance(inner, fields.Nested):
            if (inner.unknown or inner.schema.unknown) != RAISE:
                found.append(prefix + name)
            found.extend(lenient_nested_fields(inner.schema, f"{prefix}{name}."))
    return found


def _is_safe(field: fields.Field) -> bool:
    if isinstance(field, fields.List):
        return _is_safe(field.inner)
    if isinstance(field, fields.Nested):
        schema = field.schema
        return ((field.unknown or schema.unknown) == RAISE
                and all(_is_safe(f) for f in schema.fields.values()))
    if isinstance(field, _SAFE_FIELDS):
        return True
    if isinstance(field, fields.Enum):
        # A fixed set too, but a member read by value is whatever string the enum gives it: a sentence, a
        # name or an NHS number would pass as a choice (read by name, a member is an identifier: a code).
        choices = [member.value if field.by_value else member.name for member in field.enum]
        return (not any(_accepts(field, probe) for probe in (*FREE_TEXT_PROBES, *PERSON_IDENTIFIER_PROBES))
                and not any(_is_text(str(choice)) for choice in choices))
    if isinstance(field, fields.String):
        # A code: constrained to a fixed set, or to a short identifier pattern, that refuses text.
        # (A fixed set's own values are probed too: a choice may itself be a sentence.)
        choices = [c for v in field.validators if isinstance(v, validate.OneOf) for c in v.choices]
        return (any(isinstance(v, (validate.OneOf, validate.Regexp)) for v in field.validators)
                and not any(_accepts(field, probe) for probe in (*FREE_TEXT_PROBES, *PERSON_IDENTIFIER_PROBES))
                and not any(_is_text(str(choice)) for choice in choices))
    return False


def _is_text(value: str) -> bool:
    return len(value) > 64 or "@" in value or any(ch.isspace() for ch in value)


def _accepts(field: fields.Field, text: str) -> bool:
    try:
        field.deserialize(text)
    except ValidationError:
        return False
    return True
