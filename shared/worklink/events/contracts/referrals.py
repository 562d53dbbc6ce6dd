"""Events the referrals service publishes.

Declared ahead of the referrals service so the directory (capacity read model) and
adjustments (referral-status read model) can consume them; the referrals issue may add
types and versions, never change these in place.
"""

from __future__ import annotations

from marshmallow import Schema, fields

from worklink.events.catalogue import EventType
from worklink.events.contracts.common import code


class CapacityChangedV1(Schema):
    """An adviser service's capacity to take referrals (HSDS 3.1 `service_capacity` shaped)."""

    service_id = fields.UUID(required=True, metadata={"description": "the directory service id"})
    organization_id = fields.UUID(required=True)
    accepting_referrals = fields.Boolean(required=True)
    open_referrals = fields.Integer(required=True)
    available_places = fields.Integer(allow_none=True)
    typical_wait_days = fields.Integer(allow_none=True, metadata={"description": "median days, last 90 days"})
    recorded_at = fields.DateTime(required=True)


class ReferralLifecycleV1(Schema):
    """A referral moved through its lifecycle (FHIR Task status + business status codes)."""

    referral_id = fields.UUID(required=True)
    status = code(required=True)
    business_status = code(allow_none=True)
    reason = code(allow_none=True)
    referrer_org_id = fields.UUID(required=True)
    assigned_org_id = fields.UUID(allow_none=True)
    service_id = fields.UUID(allow_none=True)
    request_id = fields.UUID(allow_none=True, metadata={"description": "adjustments.referral.requested id, if any"})
    suggestion_id = fields.UUID(allow_none=True)
    version = fields.Integer(required=True, metadata={"description": "the referral's version after the change"})
    occurred_at = fields.DateTime(required=True)


LIFECYCLE = ("submitted", "received", "accepted", "rejected", "allocated", "first_contact_made",
             "put_on_hold", "cancelled", "failed", "completed")


EVENTS = [
    EventType("referrals.capacity.changed", 1, CapacityChangedV1, "referrals.capacity", "service_id",
              "An adviser service's capacity to take referrals changed (accepting, open referrals, typical wait)."),
    *(EventType(f"referrals.referral.{step}", 1, ReferralLifecycleV1, "referrals.referral", "referral_id",
                f"A referral was {step.replace('_', ' ')}; ids, status and reason codes only, never the person's details.")
      for step in LIFECYCLE),
]
