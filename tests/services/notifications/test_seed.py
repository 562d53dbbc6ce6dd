"""Demo data loads into a fresh database, shows in the inbox, and loading it twice adds nothing."""

from __future__ import annotations

import sqlalchemy as sa

from worklink.config import Settings
from worklink_notifications.models import Delivery, OrganisationContact
from worklink_notifications.seed import DEMO_ADVISERS, load_demo_data


def test_demo_data_is_idempotent(tmp_path):
    settings = Settings.from_env("notifications", {"WORKLINK_VAR": str(tmp_path)})
    assert load_demo_data(settings).startswith("3 demo contacts, ")
    assert load_demo_data(settings).endswith("0 demo deliveries (inbox, email)")
    engine = sa.create_engine(settings.database_url)
    with engine.connect() as conn:
        contacts = conn.scalar(sa.select(sa.func.count()).select_from(OrganisationContact.__table__))
        inbox = conn.scalar(sa.select(sa.func.count()).select_from(Delivery.__table__).where(
            Delivery.channel == "inbox", Delivery.recipient_id == DEMO_ADVISERS))
    engine.dispose()
    assert contacts == 3 and inbox == 2  # submitted and SLA breach reach the adviser organisation
