"""The periodic job: flag breached working-day targets (`sla_breached`) and publish each service's
capacity summary when it changed (`referrals.capacity.changed`); forget unverified self-referrals
whose code expired.

Run beside the relay and consumer: `python -m worklink_referrals.jobs --every 300`
(or once, from cron, with `--once`). Each breach is flagged and published exactly once,
so running it often, or twice at the same time on PostgreSQL, is harmless: the
primary key on (referral, clock) refuses a second flag.
"""

from __future__ import annotations

import argparse
import logging
from datetime import datetime, timezone

from worklink.config import Settings
from worklink.db import Database
from worklink.events.contracts import CATALOGUE
from worklink.logs import configure_logging
from worklink.messaging.outbox import Outbox
from worklink.workers import stop_on_signals
from worklink_referrals import services
from worklink_referrals.config import ReferralSettings
from worklink_referrals.models import PLATFORM

log = logging.getLogger(__name__)


def run_once(database: Database, referral_settings: ReferralSettings, now: datetime | None = None) -> int:
    outbox = Outbox("referrals", PLATFORM, CATALOGUE)
    with database.transaction() as session:
        moment = now or datetime.now(timezone.utc)
        found = services.detect_breaches(session, outbox, referral_settings, moment)
        capacity = services.publish_capacity_changes(session, outbox, moment)
        forgotten = services.forget_expired_self_referrals(session, moment)
    log.info("clock job", extra={"breaches": len(found), "capacity_events": capacity,
                                 "expired_self_referrals": forgotten})
    return len(found)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=float, default=300.0, help="seconds between runs")
    parser.add_argument("--once", action="store_true")
    args = parser.parse_args(argv)
    settings = Settings.from_env("referrals")
    configure_logging("referrals.jobs", settings.log_level)
    database, referral_settings = Database(settings.database_url), ReferralSettings.from_env()
    stop = stop_on_signals()
    while True:
        run_once(database, referral_settings)
        if args.once or stop.wait(args.every):
            return


if __name__ == "__main__":
    main()
