"""Events the directory service publishes."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from worklink.events.catalogue import EventType
from worklink.events.contracts.common import code


def postcode_district(**kwargs) -> fields.String:
    """An outward code such as "TA1" or "BS16": an area, never anyone's address."""
    return fields.String(validate=validate.Regexp(r"^[A-Z]{1,2}[0-9][0-9A-Z]?$"), **kwargs)


class ServiceReach(Schema):
    """Who a listing serves: added to v1 as optional fields, so older consumers ignore them.

    `area_codes` None means the listing states no service area (it serves anyone);
    ages None mean no bound. Routing consumers use these to match a person to a service.
    """

    area_codes = fields.List(postcode_district(), allow_none=True, load_default=None)
    minimum_age = fields.Integer(allow_none=True, load_default=None, validate=validate.Range(0, 130))
    maximum_age = fields.Integer(allow_none=True, load_default=None, validate=validate.Range(0, 130))


class ServicePublishedV1(ServiceReach):
    service_id = fields.UUID(required=True)
    organization_id = fields.UUID(required=True)
    taxonomy_term_ids = fields.List(fields.UUID(), load_default=list)
    published_at = fields.DateTime(required=True)


class ServiceUpdatedV1(ServiceReach):
    """Carries the listing's current reach and terms (when sent), so a consumer that missed
    the publication still converges on the latest state."""

    service_id = fields.UUID(required=True)
    organization_id = fields.UUID(required=True)
    changed = fields.List(code(), required=True)
    taxonomy_term_ids = fields.List(fields.UUID(), allow_none=True, load_default=None)
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
              "A partner organisation published a new service listing, or offers an inactive one again."),
    EventType("directory.service.updated", 1, ServiceUpdatedV1, "directory.service", "service_id",
              "A published listing changed; `changed` names the parts that changed."),
    EventType("directory.service.withdrawn", 1, ServiceWithdrawnV1, "directory.service", "service_id",
              "A listing was withdrawn and must no longer be offered (reason `inactive`: made inactive; a "
              "later `published` offers it again)."),
    EventType("directory.service.review_due", 1, ServiceReviewDueV1, "directory.service", "service_id",
              "A listing has not been assured within the review period; its owner should check it."),
]
