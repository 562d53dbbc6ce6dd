"""A bench-local miniature service: one broadcast event type and the platform tables.

Mirrors tests/platform/support.py, but with a payload shaped like a real WorkLink
broadcast event (ids, codes, timestamps), so one structured CloudEvent is ~400 bytes.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from marshmallow import Schema, fields, validate

from worklink.db import NAMING_CONVENTION, Database, platform_tables
from worklink.events.catalogue import Catalogue, EventType, broadcast_violations

EVENT_TYPE = "bench.thing.happened"
SERVICE = "bench"

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
TABLES = platform_tables(metadata)


class ThingHappened(Schema):
    thing_id = fields.UUID(required=True)  # the partition key (aggregate id)
    org_id = fields.UUID(required=True)
    seq = fields.Integer(required=True)
    status = fields.String(required=True, validate=validate.OneOf(["open", "matched", "closed"]))
    occurred_at = fields.DateTime(required=True)


def catalogue(topic: str) -> Catalogue:
    cat = Catalogue([EventType(EVENT_TYPE, 1, ThingHappened, topic, "thing_id",
                               "Something happened to a thing (benchmark payload).")])
    problems = [p for entry in cat for p in broadcast_violations(entry)]
    assert not problems, problems  # stays a legitimate broadcast event
    return cat


def make_database(url: str) -> Database:
    database = Database(url)
    metadata.create_all(database.engine)
    return database


def event_data(thing_id: uuid.UUID, org_id: uuid.UUID, seq: int) -> dict[str, Any]:
    now = datetime.now(timezone.utc)
    return {
        "thing_id": thing_id,
        "org_id": org_id,
        "seq": seq,
        "status": ("open", "matched", "closed")[seq % 3],
        "occurred_at": now,
    }


def keys(count: int) -> list[uuid.UUID]:
    return [uuid.uuid4() for _ in range(count)]
