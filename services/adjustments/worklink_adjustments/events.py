"""Integration events the adjustments service publishes and the handlers for those it consumes.

Event types and their schemas are declared once in `worklink.events.contracts.adjustments`.
We consume the referrals service's lifecycle events to keep, for each referral a clinician
started (`request_id` = our `adjustments.referral.requested`), its latest status.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Session

from worklink.events.contracts.adjustments import EVENTS
from worklink.events.contracts.platform import SESSION_EVENT_TYPES, user_sessions_ended
from worklink.events.contracts.referrals import LIFECYCLE, LIFECYCLE_MORE
from worklink.messaging.consumer import Handler, ReceivedEvent
from worklink.web.sessions import ending_sessions_handler
from worklink_adjustments.models import PLATFORM, ReferralRequest
from worklink_adjustments.services import CONSENT_WITHDRAWN, REFERRAL_ENDED

# Every step the referrals service publishes with the referral's whole state (ReferralLifecycleV1):
# a step left out here would leave the clinician's view stale (on hold after `resumed`).
REFERRAL_STEPS = (*LIFECYCLE, *LIFECYCLE_MORE)

# Steps the referrals service publishes together, from one change, all with the referral's version after it (taken
# in and held at once; accepted straight from submitted, and taken on). Listed in the order it publishes them: of
# two events with one version, the later step is where the referral got to.
ONE_CHANGE_ORDER = ("submitted", "held", "received", "accepted", "allocated")

# ...and a sign-out everywhere at our pages (worklink.web.sessions).
PUBLISHES: tuple[str, ...] = (*(entry.type for entry in EVENTS), user_sessions_ended("adjustments"))


def on_referral_lifecycle(session: Session, event: ReceivedEvent) -> None:
    """Apply a referral's status to the request it came from; newer versions only.

    Referrals that did not start here (no request_id, or one we never sent) are not ours
    to track and are ignored. A redelivered or out-of-order older event changes nothing.
    """
    data = event.data
    request_id: uuid.UUID | None = data.get("request_id")
    if request_id is None:
        return
    request = session.scalar(sa.select(ReferralRequest).where(ReferralRequest.id == request_id).with_for_update())
    step = event.type.rsplit(".", 1)[1]  # the lifecycle step: what the clinician follows
    if request is None or not _newer(data["version"], step, request):
        return
    request.referral_id = data["referral_id"]
    # Consent withdrawn here: a step the referral took before it heard of it does not reopen the request.
    if request.status != CONSENT_WITHDRAWN or step in REFERRAL_ENDED:
        request.status = step
        request.reason = data.get("reason")
    request.business_status = data.get("business_status") or data["status"]
    request.assigned_org_id = data.get("assigned_org_id")
    request.service_id = data.get("service_id")
    request.referral_version = data["version"]
    request.status_changed_at = data["occurred_at"]
    request.unanswered_at = None  # an answer at last, however late: no longer "not yet received"


def _newer(version: int, step: str, request: ReferralRequest) -> bool:
    """A later version, or a later step of the change that made the version we hold (never an earlier one again,
    whatever order a redelivery brings them in)."""
    if version != request.referral_version:
        return version > request.referral_version
    return step in ONE_CHANGE_ORDER and request.status in ONE_CHANGE_ORDER and \
        ONE_CHANGE_ORDER.index(step) > ONE_CHANGE_ORDER.index(request.status)


HANDLERS: dict[str, Handler] = {f"referrals.referral.{step}": on_referral_lifecycle for step in REFERRAL_STEPS}
# A user signed out on every computer at a service (ourselves too: harmless): end their sessions here.
HANDLERS |= {event_type: ending_sessions_handler(PLATFORM.web_sessions, "adjustments")
             for event_type in SESSION_EVENT_TYPES}
