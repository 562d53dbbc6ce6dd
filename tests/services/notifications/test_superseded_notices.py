"""A capacity change says only how an adviser service stands now: its owner's inbox keeps the newest unread one per
service, not one per change (a busy service's changes filled the inbox and hid the referrals). SQLite and
PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from types import SimpleNamespace

import sqlalchemy as sa

from worklink_notifications import routing
from worklink_notifications.models import Delivery
from tests.services.notifications.support import notifications_db  # noqa: F401

OWNER = str(uuid.uuid4())


def capacity_changed(session, service_id: uuid.UUID, open_referrals: int) -> str:
    event = SimpleNamespace(id=str(uuid.uuid4()), type="referrals.capacity.changed", data={
        "service_id": service_id, "organization_id": uuid.UUID(OWNER), "accepting_referrals": True,
        "open_referrals": open_referrals, "recorded_at": datetime.now(timezone.utc)})
    routing.route_event(session, event)
    return event.id


def owner_inbox(database) -> list[tuple[str, str, bool]]:
    with database.sessions() as session:
        return [(row.event_id, row.facts["service_id"], row.read_at is not None) for row in session.execute(
            sa.select(Delivery.event_id, Delivery.facts, Delivery.read_at).where(
                Delivery.channel == "inbox", Delivery.recipient_id == OWNER,
                Delivery.message_code == "capacity_changed"))]


def test_the_owner_keeps_the_newest_unread_capacity_notice_of_each_service(notifications_db):  # noqa: F811
    busy, quiet = uuid.uuid4(), uuid.uuid4()
    with notifications_db.transaction() as session:
        capacity_changed(session, busy, 1)
        read = capacity_changed(session, quiet, 1)
    with notifications_db.transaction() as session:  # the owner reads the quiet service's notice
        session.execute(sa.update(Delivery).where(Delivery.event_id == read).values(read_at=datetime.now(timezone.utc)))
    with notifications_db.transaction() as session:  # a batch of several changes
        capacity_changed(session, busy, 2)
        newest_busy = capacity_changed(session, busy, 3)
    with notifications_db.transaction() as session:
        newest_quiet = capacity_changed(session, quiet, 2)
    assert sorted(owner_inbox(notifications_db)) == sorted([
        (newest_busy, str(busy), False), (read, str(quiet), True), (newest_quiet, str(quiet), False)])


def test_other_notices_are_never_superseded(notifications_db):  # noqa: F811
    referral_id = uuid.uuid4()
    with notifications_db.transaction() as session:
        for _ in range(2):
            routing.route_event(session, SimpleNamespace(id=str(uuid.uuid4()), type="referrals.referral.submitted", data={
                "referral_id": referral_id, "status": "submitted", "assigned_org_id": uuid.UUID(OWNER),
                "occurred_at": datetime.now(timezone.utc)}))
    with notifications_db.sessions() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Delivery).where(
            Delivery.channel == "inbox", Delivery.recipient_id == OWNER)) == 2
