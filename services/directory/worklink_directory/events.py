"""Integration events the directory service publishes and the handlers for those it consumes.

Event types and their schemas are declared once in `worklink.events.contracts`.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy.orm import Session

from worklink.events.contracts.platform import SESSION_EVENT_TYPES
from worklink.messaging.consumer import Handler, PermanentError, ReceivedEvent
from worklink.web.sessions import ending_sessions_handler
from worklink_directory.models import PLATFORM, ServiceCapacity

PUBLISHES: tuple[str, ...] = ("directory.service.published", "directory.service.updated",
                              "directory.service.withdrawn", "directory.service.review_due",
                              "directory.user_sessions.ended")  # a sign-out everywhere (worklink.web.sessions)


COUNTS = ("open_referrals", "available_places", "typical_wait_days")


def on_capacity_changed(session: Session, event: ReceivedEvent) -> None:
    """Keep the latest capacity per service (HSDS 3.1 `service_capacity`); older events never win.

    The service may not be known yet (events can overtake listings), so the row is keyed
    by service id alone and joined when the service is read.
    """
    data = event.data
    negative = [name for name in COUNTS if (data.get(name) or 0) < 0]
    if negative:  # the contract has no range; a count below zero is a publisher's bug, never shown
        raise PermanentError(f"{', '.join(negative)} must not be negative.")
    recorded_at = _aware(data["recorded_at"])  # the contract allows a time without a zone: read it as UTC
    row = session.get(ServiceCapacity, data["service_id"], with_for_update=True)
    if row is not None and _aware(row.updated) >= recorded_at:
        return
    if row is None:
        row = ServiceCapacity(service_id=data["service_id"])
        session.add(row)
    row.organization_id = data["organization_id"]
    row.accepting_referrals = data["accepting_referrals"]
    row.open_referrals = data["open_referrals"]
    row.available_places = data.get("available_places")
    row.typical_wait_days = data.get("typical_wait_days")
    row.updated = recorded_at


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)  # SQLite drops the zone


HANDLERS: dict[str, Handler] = {
    "referrals.capacity.changed": on_capacity_changed,
    # A user signed out on every computer at another service: end their partner-page sessions here.
    **{event_type: ending_sessions_handler(PLATFORM.web_sessions, "directory") for event_type in SESSION_EVENT_TYPES},
}
