"""The sweep: expire suggestions whose period ended, announce review dates, mark referral requests the
referrals service has not answered within ADJUSTMENTS_REFERRAL_ANSWER_HOURS (24) as not yet received (each
announced once), and erase the patient's details from suggestions ended more than ADJUSTMENTS_RETENTION_YEARS
(6) ago (rights.apply_retention: batches in transactions of their own, each erasure audited; a referral request
unanswered for as long is withdrawn first).

Run as its own process: `python -m worklink_adjustments.sweep` (every hour by default;
`--once` for a cron job; in the loop a failed pass is retried after 5 s, doubling, as `worklink job` does).
Idempotent: each suggestion expires once, is announced due once and is
erased once.
"""

from __future__ import annotations

import argparse
import logging
import os
from datetime import datetime, timedelta

from worklink.config import Settings
from worklink.db import Database, utcnow
from worklink.events.contracts import CATALOGUE
from worklink.logs import configure_logging
from worklink.messaging.outbox import Outbox
from worklink.pseudonyms import clinician_reference_key
from worklink.retention import audit_retention_years, prune_audit_log
from worklink.workers import run_periodically, stop_on_signals
from worklink_adjustments import rights
from worklink_adjustments.config import person_key, previous_person_keys, referral_answer_hours
from worklink_adjustments.domain import uk_today
from worklink_adjustments.models import PLATFORM
from worklink_adjustments.rekeying import LEFTOVER_WINDOW, rekey_audit
from worklink_adjustments.services import Recorder, flag_unanswered_requests, sweep

log = logging.getLogger(__name__)


def run_once(database: Database, outbox: Outbox, retention_years: int | None = None,
             now: datetime | None = None, key: str | None = None,
             previous_keys: tuple[str, ...] | None = None, answer_hours: int | None = None,
             clinician_key: str | None = None) -> dict[str, int]:
    """One pass; `retention_years` None: as ADJUSTMENTS_RETENTION_YEARS says (6 by default); `key` None:
    ADJUSTMENTS_PERSON_KEY (the audit trail's person references), `previous_keys` None: the retired ones
    (ADJUSTMENTS_PERSON_KEY_PREVIOUS), whose references are re-keyed first; `answer_hours` None:
    ADJUSTMENTS_REFERRAL_ANSWER_HOURS; `clinician_key` None: the alliance's clinician reference key."""
    moment = now or utcnow()
    answer_within = timedelta(hours=answer_hours or referral_answer_hours(os.environ))
    clinician_key = clinician_key or clinician_reference_key(Settings.from_env("adjustments"))
    with database.transaction() as session:
        done = sweep(session, outbox, uk_today(moment))  # periods and review dates are UK dates
        done["referral_requests_unanswered"] = flag_unanswered_requests(session, outbox, moment, answer_within,
                                                                        clinician_key)
    years = retention_years or rights.retention_years(os.environ)
    key = key or person_key(os.environ)
    previous = previous_person_keys(os.environ) if previous_keys is None else previous_keys
    # Before erasure renames what a reference still finds.
    rekeyed = rekey_audit(database, key, previous, leftovers_since=moment - LEFTOVER_WINDOW)
    recorder = Recorder(outbox, rights.AUDIT, key, previous_person_keys=previous)
    erased = rights.apply_retention(database, recorder, years, moment)
    audit_years = audit_retention_years(os.environ, records_kept_years=years)
    return {**done, "audit_references_rekeyed": rekeyed, "erased_past_retention": erased,
            "audit_entries_deleted": prune_audit_log(database, PLATFORM.audit_log, audit_years, moment)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--once", action="store_true")
    parser.add_argument("--interval", type=float, default=3600.0, help="seconds between sweeps")
    args = parser.parse_args(argv)
    settings = Settings.from_env("adjustments")
    configure_logging("adjustments.sweep", settings.log_level)
    database, outbox = Database(settings.database_url), Outbox("adjustments", PLATFORM, CATALOGUE)
    # A bad setting stops it here, not at every pass.
    years, key, previous = rights.retention_years(os.environ), person_key(os.environ), previous_person_keys(os.environ)
    hours, clinician_key = referral_answer_hours(os.environ), clinician_reference_key(settings)

    def sweep_once() -> None:
        log.info("sweep done", extra=run_once(database, outbox, years, key=key, previous_keys=previous,
                                              answer_hours=hours, clinician_key=clinician_key))

    try:
        if args.once:  # for cron: a failure is its exit status
            sweep_once()
        else:  # a failed pass (the database restarting) is retried soon, as the job's is, not the end of the loop
            run_periodically(stop_on_signals(), args.interval, sweep_once)
    finally:
        database.dispose()


if __name__ == "__main__":
    main()
