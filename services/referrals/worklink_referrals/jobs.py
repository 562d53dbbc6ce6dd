"""Background jobs of the referrals service (run by `worklink up` and `worklink job -s referrals clock`).

`clock`, every REFERRALS_JOB_INTERVAL_SECONDS (300): flag breached working-day targets
(`sla_breached`), publish each service's capacity summary when it changed
(`referrals.capacity.changed`), and forget unverified self-referrals whose code expired.
Each breach is flagged and published once (primary key on referral + clock), so running it
often, or two at once, is harmless.
"""

from __future__ import annotations

import logging
import os
import threading
from datetime import datetime, timezone

from worklink.config import Settings
from worklink.db import Database
from worklink.events.contracts import CATALOGUE
from worklink.messaging.outbox import Outbox
from worklink.workers import run_periodically
from worklink_referrals import services
from worklink_referrals.config import ReferralSettings
from worklink_referrals.models import PLATFORM

log = logging.getLogger(__name__)


def run_once(database: Database, referral_settings: ReferralSettings, now: datetime | None = None) -> int:
    """One pass; returns the number of newly breached clocks."""
    outbox = Outbox("referrals", PLATFORM, CATALOGUE)
    with database.transaction() as session:
        moment = now or datetime.now(timezone.utc)
        found = services.detect_breaches(session, outbox, referral_settings, moment)
        capacity = services.publish_capacity_changes(session, outbox, moment)
        forgotten = services.forget_expired_self_referrals(session, moment)
        services.forget_rate_limit_hits(session, referral_settings, moment)
    log.info("clock job", extra={"breaches": len(found), "capacity_events": capacity,
                                 "expired_self_referrals": forgotten})
    return len(found)


def clock(settings: Settings, stop: threading.Event) -> None:
    database, referral_settings = Database(settings.database_url), ReferralSettings.from_env()
    interval = float(os.environ.get("REFERRALS_JOB_INTERVAL_SECONDS", 300))
    try:
        run_periodically(stop, interval, run_once, database, referral_settings)
    finally:
        database.dispose()


JOBS = {"clock": clock}
