"""Assured dates and review-due flags count UK days (worklink.uktime), never UTC's or the server's own: a
listing checked at 00:30 BST on 1 July was checked on 1 July, and the review-due job, the partner pages and
the residents' pages agree on the day a listing falls due."""

from __future__ import annotations

import time
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from tests.services.directory.conftest import GEOCODER, ORG_A, build_directory, make_app
from tests.services.directory.test_partner_pages import outbox, signed_in
from worklink.uktime import uk_today
from worklink_directory import demo, services
from worklink_directory.importer import import_records
from worklink_directory.models import Metadata, Service

JUST_AFTER_MIDNIGHT_BST = datetime(2026, 6, 30, 23, 30, tzinfo=timezone.utc)  # 00:30 on 1 July in the UK
PERIOD = services.DEFAULT_REVIEW_PERIOD  # 91 days: 1 July less the period is 1 April


def flagged(app, now: datetime) -> set[str]:
    ctx = app.extensions["worklink"]
    with ctx.database.transaction() as session:
        services.flag_review_due(session, ctx.outbox, now=now)
    return {aggregate for kind, aggregate, _ in outbox(app) if kind == "directory.service.review_due"}


def set_listing(app, service_id: str, **values) -> None:
    with app.extensions["worklink"].database.transaction() as session:
        session.execute(sa.update(Service).where(Service.id == uuid.UUID(service_id)).values(**values))


def test_a_listing_checked_just_after_midnight_bst_is_assured_that_uk_day(database_url, tmp_path):
    app = make_app(database_url, tmp_path)
    debt = build_directory(app).ids["debt"]
    ctx = app.extensions["worklink"]
    with ctx.database.transaction() as session:
        svc = session.get(Service, uuid.UUID(debt))
        services.assure_service(session, ctx.outbox, svc, services.Editor("ada"), now=JUST_AFTER_MIDNIGHT_BST)
    with ctx.database.sessions() as session:
        assert session.get(Service, uuid.UUID(debt)).assured_date == date(2026, 7, 1)
        trail = session.scalars(sa.select(Metadata.replacement_value).where(
            Metadata.resource_id == uuid.UUID(debt), Metadata.field_name == "assured_date")).all()
    assert trail == ["2026-07-01"]


def test_the_review_due_job_counts_uk_days(database_url, tmp_path):
    app = make_app(database_url, tmp_path)
    known = build_directory(app)
    for key in known.ids:
        set_listing(app, known.ids[key], assured_date=date(2026, 6, 1))
    # assured on 31 March: due once 1 July begins in the UK; 1 April: not yet
    set_listing(app, known.ids["cafe"], assured_date=date(2026, 3, 31))
    set_listing(app, known.ids["debt"], assured_date=date(2026, 4, 1))
    # never assured, listed at 00:30 BST on 1 April (still 31 March in UTC): due once 2 July begins in the UK
    set_listing(app, known.ids["jobclub"], assured_date=None,
                listed_at=datetime(2026, 3, 31, 23, 30, tzinfo=timezone.utc))
    assert flagged(app, JUST_AFTER_MIDNIGHT_BST - timedelta(hours=1)) == set()  # 23:30 BST on 30 June
    assert flagged(app, JUST_AFTER_MIDNIGHT_BST) == {known.ids["cafe"]}
    assert flagged(app, datetime(2026, 7, 1, 12, 0, tzinfo=timezone.utc)) == {known.ids["cafe"]}
    assert flagged(app, JUST_AFTER_MIDNIGHT_BST + timedelta(days=1)) == {known.ids[k] for k in ("cafe", "debt",
                                                                                                    "jobclub")}


@pytest.fixture()
def server_zone(monkeypatch):
    """Run the app in a server time zone whose date is not the UK's just now (UTC+14 or UTC-12: at any
    moment one of them is a day away from the UK)."""
    for zone in ("Etc/GMT-14", "Etc/GMT+12"):
        monkeypatch.setenv("TZ", zone)
        time.tzset()
        if date.today() != uk_today():
            break
    assert date.today() != uk_today()
    yield
    monkeypatch.undo()
    time.tzset()


def test_the_pages_flag_a_listing_on_the_uk_day_whatever_the_servers_time_zone(sqlite_url, tmp_path, server_zone):
    app = make_app(sqlite_url, tmp_path)
    known = build_directory(app)
    today = uk_today()
    set_listing(app, known.ids["cafe"], assured_date=today - PERIOD - timedelta(days=1))  # due today
    set_listing(app, known.ids["counselling"], assured_date=today - PERIOD)  # the period's last day: not yet
    client = app.test_client()
    assert "(due for review)" in client.get(f"/find/services/{known.ids['cafe']}").get_data(as_text=True)
    assert "(due for review)" not in client.get(f"/find/services/{known.ids['counselling']}").get_data(as_text=True)
    rows = signed_in(app, "org_admin", ORG_A).get("/partner").get_data(as_text=True).split("<tr")
    assert [row for row in rows if "Review due" in row and "Taunton counselling service" in row] == []
    assert [row for row in rows if "Review due" in row and "Wellbeing cafe, Taunton" in row]


def test_an_imported_assured_date_time_is_read_as_its_uk_day(sqlite_url, tmp_path):
    app = make_app(sqlite_url, tmp_path)
    ctx = app.extensions["worklink"]
    record = next(iter(demo.demo_records()))
    record["assured_date"] = "2026-06-30T23:30:00+00:00"
    assert import_records(ctx.database, ctx.outbox, [record], GEOCODER).created == 1
    with ctx.database.sessions() as session:
        assert session.get(Service, uuid.UUID(record["id"])).assured_date == date(2026, 7, 1)
