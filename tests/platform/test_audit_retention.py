"""The audit trail's own retention (WORKLINK_AUDIT_RETENTION_YEARS): unset, every entry is kept; set, each
service's periodic job deletes the entries older than that, never keeping the trail for less time than the
service keeps the records it audits (SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from worklink.config import ConfigError
from worklink.db import NAMING_CONVENTION, Database, platform_tables
from worklink.retention import audit_retention_years, prune_audit_log
from worklink.service import installed_services

NOW = datetime(2032, 6, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture()
def trail(database_url):
    tables = platform_tables(sa.MetaData(naming_convention=NAMING_CONVENTION))
    database = Database(database_url)
    tables.audit_log.drop(database.engine, checkfirst=True)
    tables.audit_log.create(database.engine)
    yield database, tables.audit_log
    database.dispose()


def add(database, table, *ages: timedelta) -> None:
    with database.transaction() as session:
        session.execute(table.insert(), [{"occurred_at": NOW - age, "actor": "dr.ada@practice.example",
                                          "actor_role": "gp", "action": "read", "resource_type": "referral",
                                          "resource_id": str(uuid.uuid4())} for age in ages])


def ages(database, table) -> list[int]:
    with database.sessions() as session:
        return sorted((NOW - moment.replace(tzinfo=moment.tzinfo or timezone.utc)).days
                      for moment in session.scalars(sa.select(table.c.occurred_at)))


def test_entries_older_than_the_period_go_in_batches_and_the_rest_stay(trail):
    database, table = trail
    add(database, table, *[timedelta(days=365 * 7 + 10)] * 2500, timedelta(days=365 * 7 - 10), timedelta(days=3))
    assert prune_audit_log(database, table, None, NOW) == 0  # unset: the trail is kept
    assert len(ages(database, table)) == 2502
    assert prune_audit_log(database, table, 7, NOW) == 2500  # three batches of their own transactions
    assert ages(database, table) == [3, 365 * 7 - 10]
    assert prune_audit_log(database, table, 7, NOW) == 0


def test_the_period_is_whole_years_and_never_shorter_than_the_records_it_audits():
    assert audit_retention_years({}) is None and audit_retention_years({"WORKLINK_AUDIT_RETENTION_YEARS": " "}) is None
    assert audit_retention_years({"WORKLINK_AUDIT_RETENTION_YEARS": "8"}, records_kept_years=6) == 8
    for bad in ("0", "two", "1.5"):
        with pytest.raises(ConfigError, match="WORKLINK_AUDIT_RETENTION_YEARS must be a whole number"):
            audit_retention_years({"WORKLINK_AUDIT_RETENTION_YEARS": bad})
    with pytest.raises(ConfigError, match=r"WORKLINK_AUDIT_RETENTION_YEARS \(3\) must be at least the 6 years"):
        audit_retention_years({"WORKLINK_AUDIT_RETENTION_YEARS": "3"}, records_kept_years=6)


@pytest.mark.parametrize("service", ["referrals", "adjustments"])
def test_a_service_that_keeps_records_six_years_refuses_to_start_with_a_shorter_trail(service, monkeypatch, tmp_path):
    from worklink.config import Settings

    spec = installed_services()[service]
    monkeypatch.setenv("WORKLINK_AUDIT_RETENTION_YEARS", "3")
    with pytest.raises(ConfigError, match="must be at least the 6 years"):
        spec.check_settings(Settings.from_env(service, {"WORKLINK_VAR": str(tmp_path)}))
    monkeypatch.setenv("WORKLINK_AUDIT_RETENTION_YEARS", "6")
    spec.check_settings(Settings.from_env(service, {"WORKLINK_VAR": str(tmp_path)}))


def old_entry(database, table) -> None:
    with database.transaction() as session:
        session.execute(table.insert().values(occurred_at=datetime.now(timezone.utc) - timedelta(days=365 * 9),
                                              actor="dr.ada@practice.example", actor_role="gp", action="read",
                                              resource_type="referral", resource_id=str(uuid.uuid4())))


def entries(database, table) -> int:
    with database.sessions() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(table))


def test_each_services_periodic_job_deletes_what_is_past_the_period(monkeypatch, tmp_path):
    """referrals' clock, adjustments' sweep, notifications' delivery worker and the directory's review job."""
    import threading

    from worklink.config import Settings
    from worklink.events.contracts import CATALOGUE
    from worklink.messaging.outbox import Outbox
    from worklink.migrations import upgrade
    from worklink_adjustments import sweep
    from worklink_adjustments.models import PLATFORM as ADJUSTMENTS
    from worklink_directory import jobs as directory_jobs
    from worklink_directory.models import PLATFORM as DIRECTORY
    from worklink_notifications.delivery import DeliverySettings, DeliveryWorker
    from worklink_notifications.models import PLATFORM as NOTIFICATIONS
    from worklink_referrals import jobs as referrals_jobs
    from worklink_referrals.config import ReferralSettings
    from worklink_referrals.models import PLATFORM as REFERRALS

    monkeypatch.setenv("WORKLINK_AUDIT_RETENTION_YEARS", "8")
    services = installed_services()

    def database(name: str) -> Database:
        url = f"sqlite:///{tmp_path / name}.db"
        upgrade(services[name].migrations_dir, url)
        return Database(url)

    referrals = database("referrals")
    old_entry(referrals, REFERRALS.audit_log)
    referrals_jobs.run_once(referrals, ReferralSettings())
    assert entries(referrals, REFERRALS.audit_log) == 0

    adjustments = database("adjustments")
    old_entry(adjustments, ADJUSTMENTS.audit_log)
    assert sweep.run_once(adjustments, Outbox("adjustments", ADJUSTMENTS, CATALOGUE))["audit_entries_deleted"] == 1
    assert entries(adjustments, ADJUSTMENTS.audit_log) == 0

    notifications = database("notifications")
    old_entry(notifications, NOTIFICATIONS.audit_log)
    worker = DeliveryWorker(notifications, DeliverySettings(smtp_port=1))
    assert worker.apply_retention_when_due()["audit_entries_deleted"] == 1

    directory = database("directory")
    old_entry(directory, DIRECTORY.audit_log)
    stop = threading.Event()
    job = threading.Thread(target=directory_jobs.review_due,
                           args=(Settings.from_env("directory", {"DIRECTORY_DATABASE_URL": directory.url,
                                                                 "WORKLINK_VAR": str(tmp_path)}), stop))
    job.start()
    try:
        for _ in range(100):
            if entries(directory, DIRECTORY.audit_log) == 0:
                break
            stop.wait(0.1)
        assert entries(directory, DIRECTORY.audit_log) == 0
    finally:
        stop.set()
        job.join(10)
    for each in (referrals, adjustments, notifications, directory):
        each.dispose()
