"""Background jobs: the daily review-due check (publishes directory.service.review_due)."""

from __future__ import annotations

import os
import threading

from worklink.config import Settings
from worklink.db import Database
from worklink.events.contracts import CATALOGUE
from worklink.messaging.outbox import Outbox
from worklink.workers import run_periodically
from worklink_directory import services
from worklink_directory.models import PLATFORM


def review_due(settings: Settings, stop: threading.Event) -> None:
    """Flag listings not assured for DIRECTORY_REVIEW_PERIOD_DAYS (default 91), checking hourly."""
    period = services.review_period(os.environ)
    database, outbox = Database(settings.database_url), Outbox("directory", PLATFORM, CATALOGUE)

    def check() -> None:
        with database.transaction() as session:
            services.flag_review_due(session, outbox, period=period)

    run_periodically(stop, 3600, check)
    database.dispose()


JOBS = {"review-due": review_due}
