"""`worklink seed`: load the demo directory (invented services, clearly marked as demo data)."""

from __future__ import annotations

import os

from worklink.config import Settings
from worklink.db import Database
from worklink.events.contracts import CATALOGUE
from worklink.messaging.outbox import Outbox
from worklink_directory import demo
from worklink_directory.geocode import geocoder_from_env
from worklink_directory.importer import import_records
from worklink_directory.models import PLATFORM


# Referrals route a referral that names no service to a listing carrying this term: the demo's specialist
# employment advisers (Individual Placement and Support, all run by STAFF_DEMO_ORGANISATION), not a walking group.
DEMO_SETTINGS = {"REFERRALS_ROUTING_TAXONOMY": demo.term_id("ips")}


def load_demo_data(settings: Settings, copies: int = 1) -> str:
    database = Database(settings.database_url)
    try:
        with database.transaction() as session:
            demo.ensure_taxonomy(session)
        report = import_records(database, Outbox("directory", PLATFORM, CATALOGUE), demo.demo_records(copies),
                                geocoder_from_env(os.environ))
    finally:
        database.dispose()
    staff = demo.organisation_id(demo.STAFF_DEMO_ORGANISATION)
    return (f"demo directory (invented services in Somerset): {report.summary()}; partner staff of "
            f"{demo.STAFF_DEMO_ORGANISATION} edit its listings at /partner, signed in with "
            f"`worklink token --role org_admin --org {staff} --org-name '{demo.STAFF_DEMO_ORGANISATION}'`, and its "
            f"employment advisers take GPs' referrals at referrals' /queue signed in with "
            f"`{demo.adviser_token_command(staff)}`")
