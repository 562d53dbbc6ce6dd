"""Background jobs of the adjustments service (run by `worklink up` and `worklink job`)."""

from __future__ import annotations

import logging
import os
import threading

from worklink.config import Settings
from worklink.db import Database
from worklink.events.contracts import CATALOGUE
from worklink.messaging.outbox import Outbox
from worklink.pseudonyms import clinician_reference_key
from worklink.workers import run_periodically
from worklink_adjustments import rights
from worklink_adjustments.config import person_key, previous_person_keys, referral_answer_hours
from worklink_adjustments.models import PLATFORM
from worklink_adjustments.sweep import run_once

log = logging.getLogger(__name__)
SWEEP_INTERVAL_SECONDS = 3600.0


def sweep(settings: Settings, stop: threading.Event) -> None:
    """Hourly: expire suggestions whose period ended, announce review dates, mark referral requests left
    unanswered, and erase the patient's details from suggestions past retention (idempotent)."""
    database, outbox = Database(settings.database_url), Outbox("adjustments", PLATFORM, CATALOGUE)
    # A bad setting stops the job at start.
    years, key, previous = rights.retention_years(os.environ), person_key(os.environ), previous_person_keys(os.environ)
    hours, clinician_key = referral_answer_hours(os.environ), clinician_reference_key(settings)
    try:
        run_periodically(stop, SWEEP_INTERVAL_SECONDS, lambda: log.info("sweep done", extra=run_once(
            database, outbox, years, key=key, previous_keys=previous, answer_hours=hours,
            clinician_key=clinician_key)))
    finally:
        database.dispose()


JOBS = {"sweep": sweep}
