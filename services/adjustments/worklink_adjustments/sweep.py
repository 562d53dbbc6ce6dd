"""The daily sweep: expire suggestions whose period ended and announce review dates.

Run as its own process: `python -m worklink_adjustments.sweep` (every hour by default;
`--once` for a cron job). Idempotent: each suggestion expires once and is announced due once.
"""

from __future__ import annotations

import argparse
import logging

from worklink.config import Settings
from worklink.db import Database, utcnow
from worklink.events.contracts import CATALOGUE
from worklink.logs import configure_logging
from worklink.messaging.outbox import Outbox
from worklink.workers import stop_on_signals
from worklink_adjustments.domain import uk_today
from worklink_adjustments.models import PLATFORM
from worklink_adjustments.services import sweep

log = logging.getLogger(__name__)


def run_once(database: Database, outbox: Outbox) -> dict[str, int]:
    with database.transaction() as session:
        return sweep(session, outbox, uk_today(utcnow()))  # periods and review dates are UK dates


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--once", action="store_true")
    parser.add_argument("--interval", type=float, default=3600.0, help="seconds between sweeps")
    args = parser.parse_args(argv)
    settings = Settings.from_env("adjustments")
    configure_logging("adjustments.sweep", settings.log_level)
    database, outbox = Database(settings.database_url), Outbox("adjustments", PLATFORM, CATALOGUE)
    stop = stop_on_signals()
    while True:
        log.info("sweep done", extra=run_once(database, outbox))
        if args.once or stop.wait(args.interval):
            break
    database.dispose()


if __name__ == "__main__":
    main()
