"""Published event versions change only compatibly (worklink.events.compatibility)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from worklink.events.catalogue import Catalogue, EventType
from worklink.events.compatibility import check, write_missing
from worklink.events.contracts import CATALOGUE


def test_every_published_version_is_snapshotted_and_unchanged_but_for_optional_additions():
    assert check(CATALOGUE) == []


class Place(Schema):
    area = fields.String(required=True, validate=validate.Regexp(r"^[A-Z]{1,2}[0-9]$"))


class Published(Schema):
    thing_id = fields.UUID(required=True)
    status = fields.String(required=True, validate=validate.OneOf(["open", "closed"]))
    count = fields.Integer(allow_none=True, validate=validate.Range(0, 10))
    place = fields.Nested(Place, required=True)
    tags = fields.List(fields.UUID(), load_default=list)


def _catalogue(schema: type[Schema]) -> Catalogue:
    return Catalogue([EventType("x.thing.changed", 1, schema, "x", "thing_id", "A thing changed.")])


def _problems(tmp_path, **changes) -> list[str]:
    write_missing(_catalogue(Published), tmp_path)
    declared = {name: field for name, field in Published._declared_fields.items()}
    for name, field in changes.items():
        if field is None:
            declared.pop(name)
        else:
            declared[name] = field
    changed = Schema.from_dict(declared, name="Changed")
    return check(_catalogue(changed), tmp_path)


def test_an_added_optional_field_is_compatible(tmp_path):
    assert _problems(tmp_path) == []
    assert _problems(tmp_path, note_code=fields.String(validate=validate.OneOf(["a"]))) == []

    class WiderPlace(Place):
        district = fields.String(validate=validate.Regexp(r"^[A-Z]{1,2}[0-9]{1,2}$"))

    assert _problems(tmp_path, place=fields.Nested(WiderPlace, required=True)) == []


def test_breaking_changes_to_a_published_version_are_refused(tmp_path):
    def refused(why: str, **changes):
        problems = _problems(tmp_path, **changes)
        assert problems and why in problems[0], problems

    refused("/count: removed", count=None)
    refused("/added: added as required", added=fields.UUID(required=True))
    refused("/count: made required", count=fields.Integer(required=True, allow_none=True,
                                                          validate=validate.Range(0, 10)))
    refused("/status: made optional", status=fields.String(validate=validate.OneOf(["open", "closed"])))
    refused("/status: enum changed", status=fields.String(required=True,
                                                          validate=validate.OneOf(["open", "closed", "paused"])))
    refused("/count: type changed", count=fields.Integer(validate=validate.Range(0, 10)))  # no longer nullable
    refused("/count: maximum changed", count=fields.Integer(allow_none=True, validate=validate.Range(0, 5)))
    refused("/tags/items: format changed", tags=fields.List(fields.String(validate=validate.Regexp("^[a-z]+$"))))

    class NarrowerPlace(Schema):
        area = fields.String(required=True, validate=validate.Regexp(r"^[A-Z][0-9]$"))

    refused("/place/area: pattern changed", place=fields.Nested(NarrowerPlace, required=True))

    class EmptyPlace(Schema):
        pass

    refused("/place/area: removed", place=fields.Nested(EmptyPlace, required=True))


def test_a_version_without_a_snapshot_or_a_snapshot_without_its_version_is_refused(tmp_path):
    assert check(_catalogue(Published), tmp_path) == [
        "x.thing.changed v1: no snapshot; run `python -m worklink.events.compatibility --write` and commit it"]
    write_missing(_catalogue(Published), tmp_path)
    (tmp_path / "x.thing.changed.v1.json").rename(tmp_path / "x.thing.gone.v1.json")
    problems = check(Catalogue([]), tmp_path)
    assert len(problems) == 1 and problems[0].startswith("x.thing.gone.v1.json: a published version")


def test_a_snapshot_is_never_overwritten(tmp_path):
    write_missing(_catalogue(Published), tmp_path)
    before = (tmp_path / "x.thing.changed.v1.json").read_text()
    assert write_missing(_catalogue(Schema.from_dict({"thing_id": fields.UUID()})), tmp_path) == []
    assert (tmp_path / "x.thing.changed.v1.json").read_text() == before


def test_readers_ignore_a_field_added_inside_a_nested_object():
    """The one change a published version takes must be safe at every depth: marshmallow applies
    load(unknown=EXCLUDE) to the outer schema only, and a nested schema refuses unknown fields by
    default, so a field added to an employer response's item (or a contact route) would have
    dead-lettered every such event at the consumers still on the old schema."""
    import uuid
    from datetime import datetime, timezone

    from worklink.events.envelope import CloudEvent

    event, entry = CATALOGUE.build("adjustments.employer_response.recorded", {
        "response_id": uuid.uuid4(), "suggestion_id": uuid.uuid4(), "practice_id": uuid.uuid4(),
        "clinician_id": "ab" * 32, "outcome": "agreed", "items": [{"adjustment_id": "flexible_hours", "outcome": "agreed"}],
        "occurred_at": datetime.now(timezone.utc)}, source="urn:worklink:adjustments")
    newer = event.data | {"items": [{**event.data["items"][0], "agreed_from": "2026-12-01"}]}
    _, data = CATALOGUE.load(CloudEvent(type=event.type, source=event.source, data=newer,
                                        dataschema=entry.dataschema))
    assert data["items"] == [{"adjustment_id": "flexible_hours", "outcome": "agreed"}]

    message, entry = CATALOGUE.build("notifications.person_message.requested", {
        "message_id": uuid.uuid4(), "person_id": uuid.uuid4(), "consent_id": uuid.uuid4(),
        "message_code": "referral_received", "contact": {"channel": "email", "address": "p@example.org"},
        "requested_at": datetime.now(timezone.utc)}, source="urn:worklink:referrals")
    newer = message.data | {"contact": {**message.data["contact"], "locale": "cy"}}
    _, data = CATALOGUE.load(CloudEvent(type=message.type, source=message.source, data=newer,
                                        dataschema=entry.dataschema))
    assert data["contact"] == {"channel": "email", "address": "p@example.org"}
    # Publishing stays strict at every depth.
    import pytest

    from worklink.events.catalogue import EventSchemaError

    with pytest.raises(EventSchemaError):
        CATALOGUE.build(message.type, newer, source="urn:worklink:referrals")
