"""adjustments.referral_request.unanswered (a referral request the referrals service never answered) tells the
clinician who referred, with a link to the suggestion, and the alliance, who re-drive it (SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from types import SimpleNamespace

import sqlalchemy as sa

from worklink.pseudonyms import clinician_reference
from worklink_notifications import links, routing
from worklink_notifications.messages import wording
from worklink_notifications.models import Delivery
from tests.services.notifications.support import notifications_db  # noqa: F401

CLINICIAN = clinician_reference("dr-ada", "test-key")


def test_the_clinician_and_the_alliance_are_told_once_each(notifications_db):  # noqa: F811
    suggestion_id, request_id = uuid.uuid4(), uuid.uuid4()
    now = datetime.now(timezone.utc)
    event = SimpleNamespace(id=str(uuid.uuid4()), type="adjustments.referral_request.unanswered", data={
        "request_id": request_id, "suggestion_id": suggestion_id, "practice_id": uuid.uuid4(),
        "clinician_id": CLINICIAN, "requested_at": now, "occurred_at": now})
    with notifications_db.transaction() as session:
        routing.route_event(session, event)
    with notifications_db.sessions() as session:
        inbox = {(d.recipient_kind, d.recipient_id): d for d in session.scalars(
            sa.select(Delivery).where(Delivery.event_id == event.id, Delivery.channel == "inbox"))}
    assert set(inbox) == {("user", CLINICIAN), ("alliance", "alliance")}

    told = inbox[("user", CLINICIAN)]
    assert wording(told.message_code) == ("Referral not yet received", (
        "A referral you made has not yet been received by the employment advice service. The WorkLink alliance has "
        "been told and is looking into it; the suggestion says what to do."))
    sites = {"adjustments": "https://adjustments.example", "referrals": "https://referrals.example",
             "directory": ""}
    assert links.record_link({"message_code": told.message_code, "facts": told.facts}, sites) == (
        "Open the suggestion", f"https://adjustments.example/review/{suggestion_id}")

    alliance = inbox[("alliance", "alliance")]
    assert wording(alliance.message_code)[0] == "Referral request not received"
    assert alliance.facts["request_id"] == str(request_id)  # what operations look the hand-over up by
    # The alliance has no page for a practice's suggestion: no link that would refuse them.
    assert links.record_link({"message_code": alliance.message_code, "facts": alliance.facts}, sites) is None
