"""Events the adjustments service publishes."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from worklink.events.catalogue import EventType
from worklink.events.contracts.common import code


class ReferralRequestedV1(Schema):
    """Restricted: the consented hand-over of a person to the referrals service."""

    class Person(Schema):
        nhs_number = fields.String(validate=validate.Regexp(r"^[0-9]{10}$"))
        given_name = fields.String(required=True, validate=validate.Length(1, 100))
        family_name = fields.String(required=True, validate=validate.Length(1, 100))
        birth_date = fields.Date(required=True)
        postcode = fields.String(validate=validate.Length(5, 8))
        email = fields.Email()
        phone = fields.String(validate=validate.Length(6, 20))

    request_id = fields.UUID(required=True)
    suggestion_id = fields.UUID(required=True)
    practice_id = fields.UUID(required=True)
    clinician_id = fields.String(required=True, validate=validate.Length(1, 128))
    consent_id = fields.UUID(required=True)
    consented_at = fields.DateTime(required=True)
    outcomes_to_gp = fields.Boolean(required=True)
    person = fields.Nested(Person, required=True)
    fit_note_decision = code(required=True)
    adjustment_categories = fields.List(code(), load_default=list)



EVENTS = [
    EventType("adjustments.referral.requested", 1, ReferralRequestedV1, "adjustments.referral-requests",
              "request_id",
              "With recorded consent, a clinician asks for an employment-adviser referral. "
              "Carries the person's details: restricted topic read only by the referrals service.",
              restricted=True),
]
