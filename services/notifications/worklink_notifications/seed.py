"""Demo data: contacts for the demo organisations and a few inbox messages.

Run by `worklink seed`. The organisations are the demo world's (`worklink.demo`): the practice and the
employment advisers the referrals service's demo referrals are from and with, so events from seeded
referrals reach these contacts too. Messages are made by routing
demo events through the same handler the consumer uses; re-running adds nothing.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from types import SimpleNamespace

import sqlalchemy as sa

from worklink import demo
from worklink.config import Settings
from worklink.db import Database
from worklink.migrations import upgrade_service_database
from worklink.service import get_service
from worklink_notifications import routing
from worklink_notifications.models import OrganisationContact

DEMO_PRACTICE = str(demo.DEMO_PRACTICE)
DEMO_ADVISERS = demo.organisation_id(demo.STAFF_DEMO_ORGANISATION)
CONTACTS = [(DEMO_ADVISERS, "team", "advisers-team@demo.worklink.invalid", "immediate"),
            (DEMO_ADVISERS, "lead", "advisers-lead@demo.worklink.invalid", "immediate"),
            (DEMO_PRACTICE, "team", "practice@demo.worklink.invalid", "daily")]
EVENTS = ["referrals.referral.submitted", "referrals.referral.accepted", "referrals.referral.sla_breached",
          "referrals.referral.completed"]


def load_demo_data(settings: Settings) -> str:
    upgrade_service_database(get_service("notifications").migrations_dir, settings)
    database = Database(settings.database_url)
    added = 0
    with database.transaction() as session:
        for organisation, purpose, email, frequency in CONTACTS:
            if not session.scalar(sa.select(OrganisationContact.id).where(OrganisationContact.email == email)):
                session.add(OrganisationContact(organisation_id=organisation, purpose=purpose, email=email,
                                                frequency=frequency))
    for n, event_type in enumerate(EVENTS):
        event_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"worklink-demo-notification-{n}"))
        event = SimpleNamespace(id=event_id, type=event_type, data={
            "referral_id": uuid.uuid5(uuid.NAMESPACE_URL, f"worklink-demo-referral-{n}"), "status": "demo",
            "referrer_org_id": uuid.UUID(DEMO_PRACTICE), "assigned_org_id": uuid.UUID(DEMO_ADVISERS),
            "occurred_at": datetime.now(timezone.utc)})
        with database.transaction() as session:
            added += routing.route_event(session, event) if not _seen(session, event_id) else 0
    database.dispose()
    return f"{len(CONTACTS)} demo contacts, {added} demo deliveries (inbox, email)"


def _seen(session, event_id: str) -> bool:
    from worklink_notifications.models import Delivery
    return session.scalar(sa.select(sa.func.count()).select_from(Delivery).where(Delivery.event_id == event_id)) > 0
