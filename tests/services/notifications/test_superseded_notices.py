"""A capacity summary is news to an adviser service's owner only when the service stops or starts taking new
referrals: its counts move with every referral, and on a first start every service sends one (the demo's adviser
organisation opened its inbox on 49 "Capacity changed" notices above its referrals). And a notice of how a service
stands now is superseded by a newer one: the owner's inbox keeps the newest unread one per service. SQLite and
PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import sqlalchemy as sa

from worklink_notifications import routing
from worklink_notifications.models import Delivery
from tests.services.notifications.support import notifications_db  # noqa: F401

OWNER = str(uuid.uuid4())
START = datetime(2026, 11, 30, 9, 0, tzinfo=timezone.utc)


def capacity_changed(session, service_id: uuid.UUID, open_referrals: int, accepting: bool = True,
                     minutes: int = 0) -> str:
    event = SimpleNamespace(id=str(uuid.uuid4()), type="referrals.capacity.changed", data={
        "service_id": service_id, "organization_id": uuid.UUID(OWNER), "accepting_referrals": accepting,
        "open_referrals": open_referrals, "recorded_at": START + timedelta(minutes=minutes)})
    routing.route_event(session, event)
    return event.id


def owner_inbox(database) -> list[tuple[str, str, str, bool]]:
    with database.sessions() as session:
        return [(row.event_id, row.message_code, row.facts["service_id"], row.read_at is not None)
                for row in session.execute(sa.select(Delivery.event_id, Delivery.message_code, Delivery.facts,
                                                     Delivery.read_at).where(
                    Delivery.channel == "inbox", Delivery.recipient_id == OWNER))]


def test_only_a_stop_or_a_start_of_intake_is_news_to_the_owner(notifications_db):  # noqa: F811
    service = uuid.uuid4()
    with notifications_db.transaction() as session:
        capacity_changed(session, service, 0)  # the first heard of it: where it starts
        capacity_changed(session, service, 1, minutes=1)  # a referral taken on
        capacity_changed(session, service, 2, minutes=2)
    assert owner_inbox(notifications_db) == []
    with notifications_db.transaction() as session:
        paused = capacity_changed(session, service, 2, accepting=False, minutes=3)
        capacity_changed(session, service, 1, accepting=False, minutes=4)  # still paused: nothing new
    assert owner_inbox(notifications_db) == [(paused, "intake_paused", str(service), False)]
    with notifications_db.transaction() as session:  # a redelivered older summary changes nothing
        capacity_changed(session, service, 2, minutes=2)
    with notifications_db.transaction() as session:
        resumed = capacity_changed(session, service, 1, minutes=5)
    # taking referrals again: the pause no longer holds, so only the newest stays unread
    assert owner_inbox(notifications_db) == [(resumed, "intake_resumed", str(service), False)]


def test_the_owner_keeps_the_newest_unread_intake_notice_of_each_service(notifications_db):  # noqa: F811
    busy, quiet = uuid.uuid4(), uuid.uuid4()
    with notifications_db.transaction() as session:
        capacity_changed(session, busy, 1)
        capacity_changed(session, quiet, 1)
        capacity_changed(session, busy, 1, accepting=False, minutes=1)
        read = capacity_changed(session, quiet, 1, accepting=False, minutes=1)
    with notifications_db.transaction() as session:  # the owner reads the quiet service's notice
        session.execute(sa.update(Delivery).where(Delivery.event_id == read).values(read_at=datetime.now(timezone.utc)))
    with notifications_db.transaction() as session:  # a batch of several changes
        capacity_changed(session, busy, 2, minutes=2)
        newest_busy = capacity_changed(session, busy, 3, accepting=False, minutes=3)
    with notifications_db.transaction() as session:
        newest_quiet = capacity_changed(session, quiet, 2, minutes=4)
    assert sorted(owner_inbox(notifications_db)) == sorted([
        (newest_busy, "intake_paused", str(busy), False), (read, "intake_paused", str(quiet), True),
        (newest_quiet, "intake_resumed", str(quiet), False)])


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
