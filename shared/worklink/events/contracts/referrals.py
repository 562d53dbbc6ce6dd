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


class ReferralOutcomeRecordedV1(Schema):
    """An outcome was recorded (codes only: the type, its date and hours band)."""

    referral_id = fields.UUID(required=True)
    status = code(required=True)
    outcome_type = code(required=True)
    occurred_on = fields.Date(required=True)
    hours_band = code(allow_none=True)
    sustainment_check_weeks = fields.Integer(allow_none=True)
    referrer_org_id = fields.UUID(required=True)
    assigned_org_id = fields.UUID(allow_none=True)
    service_id = fields.UUID(allow_none=True)
    request_id = fields.UUID(allow_none=True)
    version = fields.Integer(required=True)
    occurred_at = fields.DateTime(required=True)


class ReferralSlaBreachedV1(Schema):
    """A working-day clock (acknowledge, first_contact_attempt, first_meeting) passed its target."""

    referral_id = fields.UUID(required=True)
    clock = code(required=True)
    status = code(required=True)
    due_at = fields.DateTime(required=True)
    detected_at = fields.DateTime(required=True)
    assigned_org_id = fields.UUID(allow_none=True)
    service_id = fields.UUID(allow_none=True)


class ReferralFeedbackReadyV1(Schema):
    """The referrer can be told what happened (the loop closes); outcome codes only if consent allows."""

    referral_id = fields.UUID(required=True)
    referrer_org_id = fields.UUID(required=True)
    status = code(required=True)
    reason = code(allow_none=True)
    outcome_types = fields.List(code(), load_default=list)
    outcomes_shareable = fields.Boolean(required=True)
    request_id = fields.UUID(allow_none=True)
    occurred_at = fields.DateTime(required=True)


LIFECYCLE = ("submitted", "received", "accepted", "rejected", "allocated", "first_contact_made",
             "put_on_hold", "cancelled", "failed", "completed")

LIFECYCLE_MORE = {
    "resumed": "A referral on hold was resumed.",
    "entered_in_error": "A referral was created by mistake and withdrawn from every count.",
    "held": "No adviser service could take a referral: it is held for the alliance to route, never dropped "
            "(reason `no_service_available`).",
    "routed": "A held referral was routed to an adviser service.",
}


EVENTS = [
    EventType("referrals.capacity.changed", 1, CapacityChangedV1, "referrals.capacity", "service_id",
              "An adviser service's capacity to take referrals changed (accepting, open referrals, typical wait)."),
    *(EventType(f"referrals.referral.{step}", 1, ReferralLifecycleV1, "referrals.referral", "referral_id",
                f"A referral was {step.replace('_', ' ')}; ids, status and reason codes only, never the person's details.")
      for step in LIFECYCLE),
    *(EventType(f"referrals.referral.{step}", 1, ReferralLifecycleV1, "referrals.referral", "referral_id",
                description)
      for step, description in LIFECYCLE_MORE.items()),
    EventType("referrals.referral.outcome_recorded", 1, ReferralOutcomeRecordedV1, "referrals.referral",
              "referral_id", "An outcome (job start, sustained job, fit-note change...) was recorded; codes only. "
              "Only when the person agreed that outcomes go back to the referrer, and not after withdrawal."),
    EventType("referrals.referral.sla_breached", 1, ReferralSlaBreachedV1, "referrals.referral", "referral_id",
              "A referral missed a working-day target (acknowledge, first contact attempt, first meeting)."),
    EventType("referrals.referral.feedback_ready", 1, ReferralFeedbackReadyV1, "referrals.referral",
              "referral_id", "The referrer can be told how the referral ended (message back to the referrer)."),
]
