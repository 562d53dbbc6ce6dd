"""Events the adjustments service publishes.

Broadcast (topic `adjustments.suggestion`): ids, codes, dates and flags only - never the
patient, the diagnosis or the clinician's wording. Restricted (topic
`adjustments.referral-requests`, read only by the referrals service): the consented
hand-over of a person for an employment-adviser referral.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from worklink.events.catalogue import EventType
from worklink.events.contracts.common import code
from worklink.pseudonyms import clinician_reference  # noqa: F401  (the publishers' import)

DECISIONS = ("not_fit", "may_be_fit")
FIT_NOTE_CATEGORIES = ("phased_return", "altered_hours", "amended_duties", "workplace_adaptations")
ISSUER_PROFESSIONS = ("doctor", "nurse", "occupational_therapist", "pharmacist", "physiotherapist")
EMPLOYER_OUTCOMES = ("agreed", "partially_agreed", "not_possible")
WITHDRAWAL_REASONS = ("issued_in_error", "patient_request", "condition_changed", "replaced", "other")


def _one_of(values, **kwargs) -> fields.String:
    return fields.String(validate=validate.OneOf(values), **kwargs)


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

    class Referrer(Schema):
        name = fields.String(validate=validate.Length(1, 200), metadata={"description": "as the clinician signs"})
        profession = fields.String(validate=validate.Length(1, 32))
        organisation_name = fields.String(validate=validate.Length(1, 200), metadata={"description": "the practice"})

    request_id = fields.UUID(required=True)
    suggestion_id = fields.UUID(required=True)
    practice_id = fields.UUID(required=True)
    clinician_id = fields.String(required=True, validate=validate.Length(1, 128))
    # Added (optional): who referred, in words the adviser can use to reach them (the issuer's name as on the
    # letter, their profession, the practice's name when the clinician's token carries it). Staff details,
    # on this restricted hand-over only.
    referrer = fields.Nested(Referrer, load_default=None)
    consent_id = fields.UUID(required=True)
    consented_at = fields.DateTime(required=True)
    outcomes_to_gp = fields.Boolean(required=True)
    # Added (optional, so v1 readers and publishers are unaffected; absent = no): the person
    # agreed to be emailed general updates on the referral (received, accepted, closed) at
    # person.email. Recorded with the same consent as the referral.
    updates_by_email = fields.Boolean(load_default=False)
    person = fields.Nested(Person, required=True)
    fit_note_decision = _one_of(DECISIONS, required=True)
    adjustment_categories = fields.List(_one_of(FIT_NOTE_CATEGORIES), load_default=list)


class ReferralConsentWithdrawnV1(Schema):
    """Restricted, like the request it follows: the patient withdrew the consent a referral
    request was made with. Ids and a timestamp only."""

    request_id = fields.UUID(required=True, metadata={"description": "the adjustments.referral.requested it ends"})
    suggestion_id = fields.UUID(required=True)
    practice_id = fields.UUID(required=True)
    consent_id = fields.UUID(required=True, metadata={"description": "the consent withdrawn"})
    recorded_by = fields.String(required=True, validate=validate.Length(1, 128),
                                metadata={"description": "the clinician's user id"})
    withdrawn_at = fields.DateTime(required=True)


class SuggestionIssuedV1(Schema):
    """A suggestion was issued (or a new version of it, on `.amended`)."""

    suggestion_id = fields.UUID(required=True)
    practice_id = fields.UUID(required=True)
    version = fields.Integer(required=True)
    guidance_version = fields.Integer(required=True)
    decision = _one_of(DECISIONS, required=True)
    categories = fields.List(_one_of(FIT_NOTE_CATEGORIES), required=True)
    adjustment_ids = fields.List(code(), required=True, metadata={"description": "library adjustments recommended"})
    free_text_recommendations = fields.Integer(required=True, metadata={"description": "how many, not what"})
    issuer_profession = _one_of(ISSUER_PROFESSIONS, required=True)
    period_start = fields.Date(required=True)
    period_end = fields.Date(allow_none=True)
    review_date = fields.Date(allow_none=True)
    reassessment_needed = fields.Boolean(required=True)
    shared_with_employer = fields.Boolean(required=True)
    occupational_health_suggested = fields.Boolean(required=True)
    access_to_work_signposted = fields.Boolean(required=True)
    supersedes_id = fields.UUID(allow_none=True)
    occurred_at = fields.DateTime(required=True)


class SuggestionWithdrawnV1(Schema):
    suggestion_id = fields.UUID(required=True)
    practice_id = fields.UUID(required=True)
    version = fields.Integer(required=True)
    reason = _one_of(WITHDRAWAL_REASONS, required=True)
    superseded_by_id = fields.UUID(allow_none=True)
    occurred_at = fields.DateTime(required=True)


class SuggestionExpiredV1(Schema):
    suggestion_id = fields.UUID(required=True)
    practice_id = fields.UUID(required=True)
    version = fields.Integer(required=True)
    period_end = fields.Date(required=True)
    occurred_at = fields.DateTime(required=True)


class SuggestionReviewDueV1(Schema):
    suggestion_id = fields.UUID(required=True)
    practice_id = fields.UUID(required=True)
    version = fields.Integer(required=True)
    review_date = fields.Date(required=True)
    occurred_at = fields.DateTime(required=True)


class EmployerResponseRecordedV1(Schema):
    class Item(Schema):
        adjustment_id = code(allow_none=True, metadata={"description": "null for a free-text recommendation"})
        outcome = _one_of(EMPLOYER_OUTCOMES, required=True)

    response_id = fields.UUID(required=True)
    suggestion_id = fields.UUID(required=True)
    practice_id = fields.UUID(required=True)
    # Added (optional, so v1 readers are unaffected): who gave the advice, so they hear the
    # employer's answer (closing the loop). Not the login id: the pseudonymous
    # `clinician_reference` of it (64 hex digits, which this v1 pattern always admits).
    clinician_id = fields.String(validate=validate.Regexp(r"^[A-Za-z0-9_.:|-]{1,128}$"), load_default=None,
                                 metadata={"description": "clinician_reference(sub): hex HMAC-SHA256 of the "
                                                          "clinician's user id, never the id itself"})
    # Added (optional): the suggestion version the employer answered. An amendment opens a new
    # response round, so one suggestion can have answers for several versions.
    suggestion_version = fields.Integer(allow_none=True, load_default=None)
    outcome = _one_of(EMPLOYER_OUTCOMES, required=True)
    items = fields.List(fields.Nested(Item), required=True)
    effective_from = fields.Date(allow_none=True)
    occurred_at = fields.DateTime(required=True)


class EmployerResponseRecordedV2(EmployerResponseRecordedV1):
    """v1 with `clinician_id` required and only ever a clinician reference: v1's pattern also
    admits a login id or an NHS number, which a broadcast event must never carry."""

    clinician_id = fields.String(required=True, validate=validate.Regexp(r"^[0-9a-f]{64}$"),
                                 metadata={"description": "clinician_reference(sub): hex HMAC-SHA256 of the "
                                                          "clinician's user id, never the id itself"})


class ReferralRequestUnansweredV1(Schema):
    """Broadcast, for operations (and the clinician's inbox): a referral request the referrals service has not
    answered at all for ADJUSTMENTS_REFERRAL_ANSWER_HOURS - its hand-over may be dead-lettered or stuck. Ids
    and times only; sent once per request (an answer arriving later clears the mark; nothing is sent then)."""

    request_id = fields.UUID(required=True, metadata={"description": "the adjustments.referral.requested unanswered"})
    suggestion_id = fields.UUID(required=True)
    practice_id = fields.UUID(required=True)
    clinician_id = fields.String(required=True, validate=validate.Regexp(r"^[0-9a-f]{64}$"),
                                 metadata={"description": "clinician_reference(sub) of who referred: hex "
                                                          "HMAC-SHA256 of their user id, never the id itself"})
    requested_at = fields.DateTime(required=True, metadata={"description": "when the hand-over was published"})
    occurred_at = fields.DateTime(required=True, metadata={"description": "when the sweep found it unanswered"})


SUGGESTION_TOPIC = "adjustments.suggestion"

EVENTS = [
    EventType("adjustments.referral.requested", 1, ReferralRequestedV1, "adjustments.referral-requests",
              "request_id",
              "With recorded consent, a clinician asks for an employment-adviser referral. "
              "Carries the person's details: restricted topic read only by the referrals service.",
              restricted=True),
    EventType("adjustments.referral.consent_withdrawn", 1, ReferralConsentWithdrawnV1,
              "adjustments.referral-requests", "request_id",
              "The patient withdrew the consent a referral request was made with (the clinician recorded it): "
              "the referral is cancelled and nothing more about the person is shared. Same topic and key as the "
              "request, so it never overtakes it.", restricted=True),
    EventType("adjustments.suggestion.issued", 1, SuggestionIssuedV1, SUGGESTION_TOPIC, "suggestion_id",
              "A clinician issued an adjustment suggestion (decision, fit-note categories, library adjustment ids)."),
    EventType("adjustments.suggestion.amended", 1, SuggestionIssuedV1, SUGGESTION_TOPIC, "suggestion_id",
              "An issued suggestion was amended; the data describes the new version."),
    EventType("adjustments.suggestion.withdrawn", 1, SuggestionWithdrawnV1, SUGGESTION_TOPIC, "suggestion_id",
              "A suggestion was withdrawn, or superseded by a newer one (reason `replaced`)."),
    EventType("adjustments.suggestion.expired", 1, SuggestionExpiredV1, SUGGESTION_TOPIC, "suggestion_id",
              "The period a suggestion covers ended."),
    EventType("adjustments.suggestion.review_due", 1, SuggestionReviewDueV1, SUGGESTION_TOPIC, "suggestion_id",
              "A suggestion reached its review date; the clinician should reassess."),
    EventType("adjustments.referral_request.unanswered", 1, ReferralRequestUnansweredV1, SUGGESTION_TOPIC,
              "suggestion_id",
              "A referral request had no answer at all from the referrals service within "
              "ADJUSTMENTS_REFERRAL_ANSWER_HOURS (24 by default): the clinician sees it as not yet received; "
              "operations should find and re-drive its hand-over. Once per request."),
    # v1 is no longer sent (its clinician_id admits a person identifier); consumers still read it.
    EventType("adjustments.employer_response.recorded", 1, EmployerResponseRecordedV1, SUGGESTION_TOPIC,
              "suggestion_id",
              "The employer recorded which adjustments were agreed, partly agreed or not possible (no reasons text).",
              readers_only=True),
    EventType("adjustments.employer_response.recorded", 2, EmployerResponseRecordedV2, SUGGESTION_TOPIC,
              "suggestion_id",
              "The employer recorded which adjustments were agreed, partly agreed or not possible (no reasons text); "
              "the clinician who advised is named by their clinician reference alone."),
]
