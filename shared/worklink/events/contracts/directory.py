"""Events the directory service publishes."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from worklink.events.catalogue import EventType
from worklink.events.contracts.common import code


class ServicePublishedV1(Schema):
    service_id = fields.UUID(required=True)
    organization_id = fields.UUID(required=True)
    taxonomy_term_ids = fields.List(fields.UUID(), load_default=list)
    published_at = fields.DateTime(required=True)


class ServiceUpdatedV1(Schema):
    service_id = fields.UUID(required=True)
    organization_id = fields.UUID(required=True)
    changed = fields.List(code(), required=True)
    updated_at = fields.DateTime(required=True)


class ServiceWithdrawnV1(Schema):
    service_id = fields.UUID(required=True)
    organization_id = fields.UUID(required=True)
    reason = code(required=True)
    withdrawn_at = fields.DateTime(required=True)


class ServiceReviewDueV1(Schema):
    service_id = fields.UUID(required=True)
    organization_id = fields.UUID(required=True)
    last_assured_at = fields.DateTime(allow_none=True)
    due_since = fields.DateTime(required=True)



EVENTS = [
    EventType("directory.service.published", 1, ServicePublishedV1, "directory.service", "service_id",
              "A partner organisation published a new service listing."),
    EventType("directory.service.updated", 1, ServiceUpdatedV1, "directory.service", "service_id",
              "A published listing changed; `changed` names the parts that changed."),
    EventType("directory.service.withdrawn", 1, ServiceWithdrawnV1, "directory.service", "service_id",
              "A listing was withdrawn and must no longer be offered."),
    EventType("directory.service.review_due", 1, ServiceReviewDueV1, "directory.service", "service_id",
              "A listing has not been assured within the review period; its owner should check it."),
]
