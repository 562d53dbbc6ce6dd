"""Background jobs of the referrals service (run by `worklink up` and `worklink job -s referrals <name>`).

`new-links`, every NEW_LINKS_INTERVAL_SECONDS (5): renew and email the status links people asked for
(POST /status-links leaves a request and does nothing else, so its time does not tell whether the address matched).

`clock`, every REFERRALS_JOB_INTERVAL_SECONDS (300): flag breached working-day targets
(`sla_breached`), publish each service's capacity summary when it changed
(`referrals.capacity.changed`), forget unverified self-referrals whose code expired, forget
consent withdrawals that came before their request once no topic can bring the request back, and erase
the person's details from referrals that ended more than REFERRALS_RETENTION_YEARS (6) ago
(rights.apply_retention: batches of their own transactions, each erasure audited).
Each breach is flagged and published once (primary key on referral + clock; each batch of breaches is decided
again in its own write transaction), so running it often, or two at once, is harmless. No write transaction
spans the pass (flag_breaches): on SQLite one holds the database's only write lock.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from worklink.config import Settings
from worklink.db import Database
from worklink.events.contracts import CATALOGUE
from worklink.messaging.consumer import DEFAULT_DEDUP_WINDOW, dlt_topic
from worklink.messaging.outbox import Outbox
from worklink.messaging.topics import TopicSpec, load_topics
from worklink.retention import audit_retention_years, prune_audit_log
from worklink.workers import run_periodically
from worklink_referrals import rights, services
from worklink_referrals.config import ReferralSettings, job_interval_seconds
from worklink_referrals.models import PLATFORM
from worklink_referrals.rekeying import UNKEYED_WINDOW, rekey_people

log = logging.getLogger(__name__)
# Kafka rolls a segment after 7 days unless the topic says otherwise; a record can outlive its retention by that.
BROKER_SEGMENT_AGE = timedelta(days=7)


def withdrawal_memory(specs: list[TopicSpec] | None = None) -> timedelta:
    """How long a withdrawal that came before its request is remembered: as long as the request can still
    come. The request precedes its withdrawal on their partition, so when the withdrawal is handled the
    request has been dead-lettered or is still on the topic. A re-drive can take it from the DLT until the
    DLT drops it (retention + segment age) and puts it back on the topic, which keeps it as long again
    (retention + segment age); a day more for a consumer running behind. The consumer's dedup window
    (worklink.messaging.topics.dedup_window) counts from an event's first handling; this from before a
    re-drive, hence both retentions. Undeclared topics: the consumer's default window (31 days)."""
    topic = CATALOGUE.latest("adjustments.referral.requested").topic
    try:
        by_name = {spec.name: spec for spec in (specs if specs is not None else load_topics())}
    except FileNotFoundError:
        return DEFAULT_DEDUP_WINDOW
    if topic not in by_name or dlt_topic(topic) not in by_name:
        return DEFAULT_DEDUP_WINDOW
    kept = [timedelta(milliseconds=spec.retention_ms) + (timedelta(milliseconds=spec.segment_ms)
                                                          if spec.segment_ms else BROKER_SEGMENT_AGE)
            for spec in (by_name[topic], by_name[dlt_topic(topic)])]
    return sum(kept, timedelta(days=1))


# Two replicas of the clock job take turns in each write of theirs (PostgreSQL; SQLite's writers queue anyway):
# otherwise both could publish the same capacity change, the later-read figures under the earlier time, or both
# flag the same breach (the second would fail on its primary key).
_CLOCK_LOCK = sa.text("SELECT pg_advisory_xact_lock(:k)")
_CLOCK_LOCK_KEY = int.from_bytes(hashlib.sha256(b"referrals-clock-job").digest()[:8], "big", signed=True)
# Breached referrals decided again and flagged per write transaction: on SQLite a write holds the database's one
# write lock, and every API and page write waits for it.
BREACH_BATCH = 100
# Open referrals read per page outside the lock (their clocks' columns and steps only): each page is a scan of the
# open referrals by status, so fewer, larger pages (43 pages of 100 at 30,000 referrals took a second a pass).
BREACH_READ = 1000


def _one_pass_at_a_time(session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_CLOCK_LOCK, {"k": _CLOCK_LOCK_KEY})


def run_once(database: Database, referral_settings: ReferralSettings, now: datetime | None = None,
             keep_withdrawals: timedelta | None = None) -> int:
    """One pass; returns the number of newly breached clocks. No write holds the lock for the whole pass:
    the referrals are read outside it, and each step writes in short transactions of its own."""
    keep_withdrawals = keep_withdrawals or withdrawal_memory()
    outbox = Outbox("referrals", PLATFORM, CATALOGUE)
    moment = now or datetime.now(timezone.utc)
    found = flag_breaches(database, outbox, referral_settings, moment)
    with database.transaction() as session:
        _one_pass_at_a_time(session)
        # Read after the lock: a later pass never dates its figures earlier than one that published before it.
        capacity = services.publish_capacity_changes(session, outbox, now or datetime.now(timezone.utc))
    with database.transaction() as session:
        forgotten = services.forget_expired_self_referrals(session, moment)
        services.forget_rate_limit_hits(session, referral_settings, moment)
        withdrawals = services.forget_withdrawn_requests(session, moment, keep_withdrawals)
    rekeyed = rekey_people(database, referral_settings.person_key, referral_settings.previous_person_keys,
                           unkeyed_since=moment - UNKEYED_WINDOW)
    erased = rights.apply_retention(database, referral_settings, moment)
    audit_years = audit_retention_years(os.environ, records_kept_years=referral_settings.retention_years)
    audit_deleted = prune_audit_log(database, PLATFORM.audit_log, audit_years, moment)
    log.info("clock job", extra={"breaches": len(found), "capacity_events": capacity,
                                 "expired_self_referrals": forgotten, "withdrawals_forgotten": withdrawals,
                                 "people_rekeyed": rekeyed, "erased_past_retention": erased,
                                 "audit_entries_deleted": audit_deleted})
    return len(found)


def flag_breaches(database: Database, outbox: Outbox, referral_settings: ReferralSettings,
                  moment: datetime) -> list[tuple]:
    """Page through the open referrals outside the write lock; flag their breaches BREACH_BATCH at a time, each
    batch in a transaction of its own and decided again there (a referral closed, held or flagged by another pass
    since it was read is left alone), so each clock breaches once and a writer waits one batch at most."""
    found, after = [], None
    while True:
        with database.sessions() as session:
            due, after = services.breach_candidates(session, referral_settings, moment, after, BREACH_READ)
        for start in range(0, len(due), BREACH_BATCH):
            with database.transaction() as session:
                _one_pass_at_a_time(session)
                found += services.detect_breaches(session, outbox, referral_settings, moment,
                                                  among=due[start:start + BREACH_BATCH])
            database.between_batches()
        if after is None:
            return found


def clock(settings: Settings, stop: threading.Event) -> None:
    database, referral_settings = Database(settings.database_url), ReferralSettings.from_env()
    interval = job_interval_seconds()
    try:
        run_periodically(stop, interval, run_once, database, referral_settings, None, withdrawal_memory())
    finally:
        database.dispose()


# How often the new-links job looks for waiting requests: the person is waiting for the email.
NEW_LINKS_INTERVAL_SECONDS = 5


def send_new_links(database: Database, now: datetime | None = None,
                   referral_settings: ReferralSettings | None = None) -> int:
    """One pass of the new-links job: every waiting request for new status links (services.send_requested_links),
    each in a short transaction of its own; returns how many."""
    outbox, handled = Outbox("referrals", PLATFORM, CATALOGUE), 0
    referral_settings = referral_settings or ReferralSettings()
    while True:
        with database.transaction() as session:
            if not services.send_requested_links(session, outbox, referral_settings,
                                                 now or datetime.now(timezone.utc)):
                break
        handled += 1
    if handled:
        log.info("new-links job", extra={"requests": handled})
    return handled


def new_links(settings: Settings, stop: threading.Event) -> None:
    database = Database(settings.database_url)
    try:
        run_periodically(stop, NEW_LINKS_INTERVAL_SECONDS, send_new_links, database, None, ReferralSettings.from_env())
    finally:
        database.dispose()


JOBS = {"clock": clock, "new-links": new_links}
