"""A partner's feed says when the listing was last checked (ORUK `assured_date`): a re-import takes a later
date (the review flag follows, and the trail says so), never an earlier one over ours, and a date in the
future is refused rather than keeping a listing from ever falling due for review."""

from __future__ import annotations

import copy
import uuid
from datetime import date, timedelta

from tests.services.directory.conftest import GEOCODER, make_app
from tests.services.directory.test_partner_pages import outbox, trail
from worklink.uktime import uk_today
from worklink_directory import demo
from worklink_directory.importer import import_records
from worklink_directory.models import Service


def run_import(app, record: dict):
    ctx = app.extensions["worklink"]
    return import_records(ctx.database, ctx.outbox, [copy.deepcopy(record)], GEOCODER)


def listing(app, service_id: str) -> Service:
    with app.extensions["worklink"].database.sessions() as session:
        return session.get(Service, uuid.UUID(service_id))


def test_a_reimport_takes_a_later_assured_date_and_never_an_earlier_one(sqlite_url, tmp_path):
    app = make_app(sqlite_url, tmp_path)
    record = {**next(iter(demo.demo_records())), "assured_date": "2026-08-03", "assurer_email": "kim@example.org"}
    assert run_import(app, record).created == 1
    ctx = app.extensions["worklink"]
    with ctx.database.transaction() as session:  # the review-due job told the owner it had lapsed
        session.get(Service, uuid.UUID(record["id"])).review_due_notified_at = session.get(
            Service, uuid.UUID(record["id"])).listed_at

    checked = {**record, "assured_date": "2026-11-20", "assurer_email": "lee@example.org"}
    report = run_import(app, checked)
    assert (report.updated, report.unchanged, report.rejected) == (1, 0, [])
    svc = listing(app, record["id"])
    assert (svc.assured_date, svc.assurer_email, svc.review_due_notified_at) == (date(2026, 11, 20),
                                                                                 "lee@example.org", None)
    assert ("assure", "assured_date", "2026-08-03", "2026-11-20", "importer") in trail(app, record["id"])
    assert outbox(app)[-1][:2] == ("directory.service.updated", record["id"])

    # the same feed again, and an older feed, change nothing
    events = len(outbox(app))
    assert run_import(app, checked).unchanged == 1
    assert run_import(app, {**record, "assured_date": "2026-09-01"}).unchanged == 1
    assert listing(app, record["id"]).assured_date == date(2026, 11, 20) and len(outbox(app)) == events


def test_an_assured_date_in_the_future_is_refused(sqlite_url, tmp_path):
    app = make_app(sqlite_url, tmp_path)
    record = next(iter(demo.demo_records()))
    for future in ((uk_today() + timedelta(days=30)).isoformat(), "2099-01-01T09:00:00+00:00"):
        report = run_import(app, {**record, "assured_date": future})
        assert report.created == 0 and report.rejected[0][1] == [
            f"/assured_date: {future!r} is in the future (a listing can only have been checked already)"]
    assert run_import(app, {**record, "assured_date": uk_today().isoformat()}).created == 1
