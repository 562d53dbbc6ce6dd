"""Background jobs: the daily review-due check (publishes directory.service.review_due)."""

from __future__ import annotations

import os
import threading

from worklink.config import Settings
from worklink.db import Database, utcnow
from worklink.events.contracts import CATALOGUE
from worklink.messaging.outbox import Outbox
from worklink.retention import audit_retention_years, prune_audit_log
from worklink.workers import run_periodically
from worklink_directory import services
from worklink_directory.models import PLATFORM


def review_due(settings: Settings, stop: threading.Event) -> None:
    """Flag listings not assured for DIRECTORY_REVIEW_PERIOD_DAYS (default 91), checking hourly; and delete
    audit entries older than WORKLINK_AUDIT_RETENTION_YEARS, when set."""
    period, audit_years = services.review_period(os.environ), audit_retention_years(os.environ)
    database, outbox = Database(settings.database_url), Outbox("directory", PLATFORM, CATALOGUE)

    def check() -> None:
        with database.transaction() as session:
            services.flag_review_due(session, outbox, period=period)
        prune_audit_log(database, PLATFORM.audit_log, audit_years, utcnow())

    run_periodically(stop, 3600, check)
    database.dispose()


JOBS = {"review-due": review_due}
