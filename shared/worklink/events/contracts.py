"""WorkLink's integration events: the one catalogue every service reads.

Broadcast events carry ids, codes and timestamps only (checked by
`broadcast_violations` in the test suite). An event that must hand a person's
details to one other service is `restricted=True` and travels on its own
restricted topic (short retention, one consumer group) - see deploy/topics.toml.

Later issues add types here; a breaking change to a schema is a new version
declared beside the old one, never an edit of it.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from worklink.events.catalogue import Catalogue, EventType


def code(**kwargs) -> fields.String:
    """A machine code (never free text): lower-case identifier characters."""
    return fields.String(validate=validate.Regexp(r"^[a-z0-9][a-z0-9_.:-]{0,63}$"), **kwargs)


# --- directory ---------------------------------------------------------------

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


# --- adjustments -------------------------------------------------------------

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


CATALOGUE = Catalogue([
    EventType("directory.service.published", 1, ServicePublishedV1, "directory.service", "service_id",
              "A partner organisation published a new service listing."),
    EventType("directory.service.updated", 1, ServiceUpdatedV1, "directory.service", "service_id",
              "A published listing changed; `changed` names the parts that changed."),
    EventType("directory.service.withdrawn", 1, ServiceWithdrawnV1, "directory.service", "service_id",
              "A listing was withdrawn and must no longer be offered."),
    EventType("directory.service.review_due", 1, ServiceReviewDueV1, "directory.service", "service_id",
              "A listing has not been assured within the review period; its owner should check it."),
    EventType("adjustments.referral.requested", 1, ReferralRequestedV1, "adjustments.referral-requests",
              "request_id",
              "With recorded consent, a clinician asks for an employment-adviser referral. "
              "Carries the person's details: restricted topic read only by the referrals service.",
              restricted=True),
])
