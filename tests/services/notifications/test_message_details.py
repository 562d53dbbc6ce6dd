"""What a staff message's facts say in words (messages.details): pure wording, no database."""

from __future__ import annotations

from worklink_notifications.messages import details


def test_a_listings_changes_and_failing_webhooks_are_said_in_words_in_uk_time():
    assert details("listing_updated", {"changed": ["name", "assured_date"]}) == ["What changed: name, assured date."]
    # Stored in UTC: 08:00 UTC on a summer morning is 09:00 in the UK.
    assert details("webhook_failing", {"failing_since": "2026-07-01T08:00:00+00:00"}) == [
        "Failing since 1 July 2026, 09:00."]
    assert details("referral_request_unanswered", {"request_id": "5e0c3bd2-8f53-4f33-9d4b-0a658e54aa11"}) == [
        "Request id: 5e0c3bd2-8f53-4f33-9d4b-0a658e54aa11"]


def test_reasons_and_outcomes_are_never_said_and_odd_facts_add_nothing():
    assert details("referral_rejected", {"reason": "not_eligible", "status": "rejected"}) == []
    assert details("referral_sla_breached", {"clock": "a_new_clock", "due_at": "2026-07-01T08:00:00+00:00"}) == []
    assert details("referral_sla_breached", {"clock": "acknowledge", "due_at": "not a time"}) == []
    assert details("listing_updated", {}) == [] and details("webhook_failing", None) == []
