"""Consent before a person's details cross to another organisation: every restricted event names the consent it
travels under (a hand-over) or withdraws (a withdrawal), and one without it is refused when sent and when read
(a consumer dead-letters it as schema-invalid), so no service receives a person on a hand-over nobody agreed to.
The services' own refusals are tested beside them: a referral request without the patient's consent
(adjustments test_events, test_referral_consent_withdrawal), an intake or self-referral without explicit consent
(referrals test_api, test_pages), a resident's email without their consent or after its withdrawal
(referrals test_audit_fixes, notifications test_revocation)."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timezone

import pytest

from worklink.events.catalogue import EventSchemaError
from worklink.events.contracts import CATALOGUE
from worklink.events.envelope import CloudEvent

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)
# One valid example of each restricted hand-over the catalogue has today.
HAND_OVERS = {
    "adjustments.referral.requested": {
        "request_id": uuid.uuid4(), "suggestion_id": uuid.uuid4(), "practice_id": uuid.uuid4(),
        "clinician_id": "dr-ada", "consent_id": uuid.uuid4(), "consented_at": NOW, "outcomes_to_gp": False,
        "person": {"nhs_number": "9434765919", "given_name": "Sam", "family_name": "Patel",
                   "birth_date": date(1985, 4, 12)},
        "fit_note_decision": "may_be_fit", "adjustment_categories": ["altered_hours"], "updates_by_email": False},
    "adjustments.referral.consent_withdrawn": {
        "request_id": uuid.uuid4(), "suggestion_id": uuid.uuid4(), "practice_id": uuid.uuid4(),
        "consent_id": uuid.uuid4(), "recorded_by": "dr-ada", "withdrawn_at": NOW},
    "notifications.person_message.requested": {
        "message_id": uuid.uuid4(), "person_id": uuid.uuid4(), "consent_id": uuid.uuid4(),
        "message_code": "referral_accepted", "contact": {"channel": "email", "address": "sam@example.org"},
        "referral_id": uuid.uuid4(), "requested_at": NOW},
    "notifications.person_messages.revoked": {
        "consent_id": uuid.uuid4(), "person_id": uuid.uuid4(), "referral_id": uuid.uuid4(), "revoked_at": NOW},
}


def test_every_restricted_type_has_an_example_here():
    """A new restricted type must be added above, so the tests below hold it to its consent too."""
    assert {entry.type for entry in CATALOGUE if entry.restricted} == set(HAND_OVERS)


@pytest.mark.parametrize("event_type", sorted(HAND_OVERS))
def test_a_hand_over_names_its_consent_and_is_refused_without_it(event_type):
    sent, entry = CATALOGUE.build(event_type, HAND_OVERS[event_type], source="urn:worklink:test")
    consent = entry.schema().fields["consent_id"]
    assert consent.required and not consent.allow_none
    for missing in ({k: v for k, v in HAND_OVERS[event_type].items() if k != "consent_id"},
                    {**HAND_OVERS[event_type], "consent_id": None}):
        with pytest.raises(EventSchemaError) as refused:
            CATALOGUE.build(event_type, missing, source="urn:worklink:test")
        assert "consent_id" in refused.value.messages
        # Another producer's event without it: refused as the consumer reads it.
        read = CloudEvent(type=sent.type, source=sent.source, dataschema=sent.dataschema,
                          data={k: v for k, v in sent.data.items() if k != "consent_id"}
                          | ({"consent_id": None} if "consent_id" in missing else {}))
        with pytest.raises(EventSchemaError):
            CATALOGUE.load(read)
